"""Optimizers: bf16 weights with fp32 moments and stochastic rounding, fused vs foreach AdamW,
8-bit AdamW where bitsandbytes imports (a clear error where it does not)."""

import sys
import types

import pytest
import torch

from schemas.errors import ConfigError
from tiny_models import add_split, digit_sft_rows
from trainers.config import load_config
from trainers.optim import BF16AdamW, build_optimizer, stochastic_round
from trainers.run import train


def test_stochastic_rounding_is_unbiased_and_exact_on_bf16_values():
    torch.manual_seed(0)
    x = torch.full((200_000,), 1.0 + 2**-10)  # a quarter of a bf16 step above 1.0
    rounded = stochastic_round(x).float()
    assert set(rounded.unique().tolist()) == {1.0, 1.0 + 2**-7}
    assert rounded.mean().item() == pytest.approx(1.0 + 2**-10, abs=2e-5)
    exact = torch.randn(1000).bfloat16().float()
    assert torch.equal(stochastic_round(exact).float(), exact)
    assert torch.equal(stochastic_round(-x).float().unique(), torch.tensor([-1.0 - 2**-7, -1.0]))


def test_updates_below_bf16_resolution_survive_stochastic_rounding_only():
    """lr 1e-4 on weights of 1.0: each update is 1/80 of a bf16 step. Rounding to nearest loses
    them all; the stochastic rounding of BF16AdamW moves the weights as fp32 AdamW does."""
    def run(weight_dtype, optimizer_class, **options):
        weight = torch.nn.Parameter(torch.ones(4096, dtype=weight_dtype))
        opt = optimizer_class([weight], lr=1e-4, betas=(0.9, 0.999), eps=1e-8, **options)
        for _ in range(100):
            weight.grad = torch.ones_like(weight)
            opt.step()
        return weight.float().mean().item()

    reference = run(torch.float32, torch.optim.AdamW, weight_decay=0.0)
    assert reference == pytest.approx(1.0 - 100 * 1e-4, abs=1e-5)
    assert run(torch.bfloat16, torch.optim.AdamW, weight_decay=0.0) == 1.0  # nearest rounding: nothing moved
    assert run(torch.bfloat16, BF16AdamW) == pytest.approx(reference, abs=2e-4)
    for fused in (False, True):
        assert run(torch.bfloat16, BF16AdamW, fused=fused) == pytest.approx(reference, abs=2e-4)


def test_the_optimizer_option_picks_the_kernel(tmp_path):
    model = torch.nn.Linear(4, 4)
    cfg = lambda **v: load_config("sft", None, {"split": "s", **v})  # noqa: E731
    assert build_optimizer(model, cfg()).defaults["fused"] is True
    foreach = build_optimizer(model, cfg(optimizer="adamw"))
    assert not foreach.defaults["fused"] and foreach.defaults["foreach"] is True
    assert isinstance(build_optimizer(model.bfloat16(), cfg(weights="bf16")), BF16AdamW)


def test_adamw_8bit_needs_bitsandbytes(monkeypatch):
    model = torch.nn.Linear(4, 4)
    cfg = load_config("sft", None, {"split": "s", "optimizer": "adamw_8bit"})
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "bitsandbytes" else object())
    with pytest.raises(ConfigError, match="adamw_8bit needs bitsandbytes"):
        build_optimizer(model, cfg)
    made = []
    fake = types.SimpleNamespace(optim=types.SimpleNamespace(AdamW8bit=lambda groups, **o: made.append(o) or "8bit"))
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object())
    assert build_optimizer(model, cfg) == "8bit" and made[0]["lr"] == cfg.learning_rate


def test_bf16_weights_train_and_save_bf16(lake, digit_model_dir, tmp_path):
    add_split(lake, "sft", "sft", digit_sft_rows(16))
    losses = {}
    cfg = load_config("sft", None, {"split": "sft", "model": str(digit_model_dir), "out": str(tmp_path / "o"),
                                    "weights": "bf16", "max_steps": 12, "batch_size": 4, "learning_rate": 1e-2,
                                    "progress": False, "device": "cpu"})
    result = train("sft", cfg, lake=lake, on_metrics=lambda step, m: losses.__setitem__(step, m["loss"]))
    assert {p.dtype for p in result.model.parameters()} == {torch.bfloat16}
    first, last = (sum(losses[s] for s in steps) / 3 for steps in ((1, 2, 3), (10, 11, 12)))
    assert last < first * 0.9  # per-batch losses are noisy: compare the means of three steps
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(tmp_path / "o").dtype == torch.bfloat16
