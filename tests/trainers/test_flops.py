"""MFU: the model-FLOPs formula, the peak table, and the metrics a run reports (with GRPO's
rollout and update times apart)."""

import pytest
import torch

from parallel_check import AlternatingSampler
from tiny_models import add_split, digit_sft_rows, rl_rows, tiny_llama
from trainers import fit as fit_module
from trainers.collate import Sequence, pack
from trainers.config import load_config
from trainers.flops import ModelFlops, peak_flops, squared_lengths
from trainers.run import train


def test_model_flops_count_every_matmul_weight_and_causal_attention(digit_tokenizer):
    tied = tiny_llama(digit_tokenizer)
    total = sum(p.numel() for p in tied.parameters())
    flops = ModelFlops.of(tied)
    assert flops.matmul_params == total  # the tied head multiplies too; the embedding lookup does not
    untied = ModelFlops.of(tiny_llama(digit_tokenizer, tie_word_embeddings=False))
    embedding = tied.get_input_embeddings().weight.numel()
    assert untied.matmul_params == sum(p.numel() for p in tiny_llama(digit_tokenizer, tie_word_embeddings=False)
                                       .parameters()) - embedding
    assert (flops.layers, flops.attention_width) == (2, 48)
    batch = pack([Sequence([1, 2, 3], [1, 2, 3]), Sequence([4, 5], [4, 5])], row_tokens=4)
    assert squared_lengths(batch.sequence_ids) == 9 + 4
    assert flops.batch_flops(5, 13) == 6 * total * 5 + 6 * 2 * 48 * 13


def test_peak_flops_come_from_the_device_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert peak_flops(torch.device("cuda")) == pytest.approx(989.4e12)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    assert peak_flops(torch.device("cuda")) == pytest.approx(756e12)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some Future Accelerator")
    assert peak_flops(torch.device("cuda")) is None
    assert peak_flops(torch.device("cpu")) is None


@pytest.fixture
def splits(lake):
    add_split(lake, "sft", "sft", digit_sft_rows(8))
    add_split(lake, "rl", "rl", rl_rows(4))
    return lake


def test_runs_report_mfu_and_time_by_phase(splits, digit_model_dir, tmp_path, monkeypatch, digit_tokenizer):
    monkeypatch.setattr(fit_module, "peak_flops", lambda device: 1e9)  # a known peak, so MFU is reported on CPU
    seen = {}
    base = {"model": str(digit_model_dir), "max_steps": 2, "progress": False, "device": "cpu", "weights": "bf16"}
    train("sft", load_config("sft", None, {**base, "split": "sft", "out": str(tmp_path / "s")}), lake=splits,
          on_metrics=lambda step, m: seen.setdefault("sft", m))
    sft = seen["sft"]
    assert sft["mfu"] == pytest.approx(sft["model_flops"] / 1e9 / (sft["time/collate"] + sft["time/update"]), rel=0.05)
    assert sft["mfu/update"] >= sft["mfu"] > 0
    cfg = load_config("grpo", None, {**base, "split": "rl", "out": str(tmp_path / "g"), "num_generations": 2,
                                     "max_new_tokens": 2, "rollout_backend": "transformers"})
    train("grpo", cfg, lake=splits, on_metrics=lambda step, m: seen.setdefault("grpo", m),
          sampler=AlternatingSampler(digit_tokenizer))
    assert seen["grpo"]["time/rollout"] > 0 and seen["grpo"]["time/update"] > 0 and "time/collate" not in seen["grpo"]


def test_no_peak_no_mfu(splits, digit_model_dir, tmp_path):
    seen = []
    cfg = load_config("sft", None, {"split": "sft", "model": str(digit_model_dir), "max_steps": 1, "progress": False,
                                    "device": "cpu", "out": str(tmp_path / "s")})
    train("sft", cfg, lake=splits, on_metrics=lambda step, m: seen.append(m))
    assert "mfu" not in seen[0] and seen[0]["model_flops"] > 0
