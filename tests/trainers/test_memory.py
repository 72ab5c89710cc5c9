"""Fitting a run to memory: the plan made from free memory, the re-plan after an out-of-memory
step (checkpointing on, then smaller micro-batches), and the one-line error when nothing fits."""

import json

import pytest
import torch

from flows.cli import main
from schemas.errors import DeviceError
from tiny_models import add_split, digit_sft_rows, tiny_llama
from trainers import memory
from trainers.config import load_config
from trainers.memory import (MARGIN, RESERVE, MemoryPlan, checkpointed_bytes, escalate, plan_memory,
                             probe_activation_bytes, static_bytes)


def test_bf16_weights_save_activation_and_static_memory(digit_tokenizer):
    model = tiny_llama(digit_tokenizer)
    fp32 = probe_activation_bytes(model, torch.device("cpu"), bf16=False)
    assert fp32 > 0
    assert probe_activation_bytes(model.bfloat16(), torch.device("cpu"), bf16=False) < 0.75 * fp32
    assert static_bytes(model, "adamw_fused")["weights"] == sum(p.numel() for p in model.parameters()) * 2
    assert static_bytes(model, "adamw_8bit")["optimizer"] < static_bytes(model, "adamw")["optimizer"] / 3


@pytest.fixture
def sized(digit_tokenizer, monkeypatch):
    """A tiny model and the free memory at which each choice happens (largest micro-batch: 4,000 tokens)."""
    model = tiny_llama(digit_tokenizer)
    cfg = load_config("sft", None, {"split": "s"})
    static = static_bytes(model, cfg.optimizer)
    base = static["grads"] + static["optimizer"] + RESERVE
    off = probe_activation_bytes(model, torch.device("cpu"), False) * MARGIN
    on = checkpointed_bytes(off, model)

    def plan(free, **options):
        monkeypatch.setattr(memory, "device_free_bytes", lambda device: free)
        return plan_memory(model, cfg.model_copy(update=options), torch.device("cpu"), False,
                           largest_tokens=lambda: 4000, longest_example=lambda: 100)
    return plan, base, off, on


def test_the_plan_turns_checkpointing_on_then_limits_tokens_as_memory_shrinks(sized):
    plan, base, off, on = sized
    roomy = plan(base + 4000 * off * 1.1)
    assert not roomy.gradient_checkpointing and roomy.max_tokens_per_batch is None
    tight = plan(base + 4000 * on * 1.1)
    assert tight.gradient_checkpointing and tight.max_tokens_per_batch is None and "4,000-token" in tight.note
    tighter = plan(base + 1000 * on)
    assert tighter.gradient_checkpointing and 900 <= tighter.max_tokens_per_batch <= 1000
    assert "tokens fit per micro-batch" in tighter.summary()
    with pytest.raises(DeviceError, match="does not fit"):
        plan(base + 50 * on)


def test_the_plan_keeps_what_the_user_set(sized):
    plan, base, off, on = sized
    kept = plan(base + 1000 * on, gradient_checkpointing=False)
    assert not kept.gradient_checkpointing and kept.max_tokens_per_batch < 1000 * on / off
    fixed = plan(base, gradient_checkpointing=False, max_tokens_per_batch=4000)
    assert (fixed.gradient_checkpointing, fixed.max_tokens_per_batch, fixed.note) == (False, 4000, "")


def test_out_of_memory_escalates_checkpointing_then_halves_the_budget():
    plan = MemoryPlan(False, None, True, True)
    plan = escalate(plan, 800, 100, "cuda:0")
    assert plan.gradient_checkpointing and plan.max_tokens_per_batch is None
    plan = escalate(plan, 800, 100, "cuda:0")
    assert plan.max_tokens_per_batch == 400
    plan = escalate(escalate(plan, 400, 100, "cuda:0"), 200, 100, "cuda:0")
    assert plan.max_tokens_per_batch == 100
    with pytest.raises(DeviceError, match="a micro-batch of 100 tokens .* does not fit; try --set weights=bf16"):
        escalate(plan, 100, 100, "cuda:0")
    with pytest.raises(DeviceError, match="try --gradient-checkpointing, --max-tokens-per-batch 400"):
        escalate(MemoryPlan(False, 800, False, False), 800, 100, "cuda:0")


def fail_forward(monkeypatch, fits):
    """The backbone's training forward raises CUDA's out-of-memory error unless fits(layers checkpointed, tokens)."""
    from transformers.models.llama.modeling_llama import LlamaModel

    original = LlamaModel.forward

    def forward(self, *args, **kwargs):
        tokens = kwargs["input_ids"].numel()
        checkpointed = any(getattr(layer, "gradient_checkpointing", False) for layer in self.layers)
        if torch.is_grad_enabled() and not fits(checkpointed, tokens):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LlamaModel, "forward", forward)


def train_sft(lake, model_dir, out, *extra):
    add_split(lake, "sft", "sft", digit_sft_rows(16))
    return main(["train", "sft", "--split", "sft", "--lake", str(lake.location), "--model", str(model_dir),
                 "--out", str(out), "--max-steps", "2", "--batch-size", "8", "--set", "progress=false", *extra])


def test_an_out_of_memory_step_is_retried_with_checkpointing(lake, digit_model_dir, tmp_path, monkeypatch, capsys):
    fail_forward(monkeypatch, lambda checkpointed, tokens: checkpointed)
    assert train_sft(lake, digit_model_dir, tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "memory: gradient checkpointing on (chosen)" in out and "without checkpointing: turned it on" in out
    lineage = json.loads((tmp_path / "out" / "lineage.json").read_text())
    assert lineage["memory"].startswith("gradient checkpointing on")


def test_out_of_memory_halves_the_micro_batches_until_they_fit(lake, digit_model_dir, tmp_path, monkeypatch, capsys):
    fail_forward(monkeypatch, lambda checkpointed, tokens: tokens <= 40)
    assert train_sft(lake, digit_model_dir, tmp_path / "out") == 0
    out = capsys.readouterr().out
    summary = out.split("memory: ")[1]
    assert "at most" in summary and "tokens per micro-batch (chosen)" in summary, summary
    run = lake.query("SELECT status FROM runs WHERE kind = 'train'").to_pylist()
    assert run == [{"status": "completed"}]


def test_out_of_memory_with_nothing_left_to_choose_is_one_line(lake, digit_model_dir, tmp_path, monkeypatch, capsys):
    fail_forward(monkeypatch, lambda checkpointed, tokens: False)
    code = train_sft(lake, digit_model_dir, tmp_path / "out", "--gradient-checkpointing", "--max-tokens-per-batch",
                     "64")
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 7 and len(errors) == 1, errors  # (transformers' loading bar aside)
    assert errors[0].startswith("error: out of memory on cpu: a micro-batch of") and "--set weights=bf16" in errors[0]
    run = lake.query("SELECT status, detail FROM runs WHERE kind = 'train'").to_pylist()
    assert run[0]["status"] == "failed" and "out of memory" in run[0]["detail"]
    assert not (tmp_path / "out").exists()  # no half-written checkpoint
