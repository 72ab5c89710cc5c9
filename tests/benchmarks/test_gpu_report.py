"""docs/gpu.md reads what the GPU check writes: the check's trainer sections run benchmarks/training.py
with flags it takes, and gpu_report renders that benchmark's JSON line (cells, comparisons, MFU,
GRPO phases) and every section's status."""

import json

import pytest

from benchmarks import gpu_check, gpu_report, training, training_jobs


def cell(framework, trainer, variant, gc, tokens_per_s, peak, **extra):
    return {**training_jobs.describe(framework, trainer, variant, gc), "tokens_per_s": tokens_per_s,
            "peak_mem_mb": peak, **extra}


def training_line(cells: dict, trainers: list[str], **settings) -> dict:
    return {"benchmark": "training", "weights": "bf16", "compile": False, "cells": cells,
            "comparisons": training.comparisons(cells, trainers), **settings}


@pytest.fixture
def results(tmp_path):
    sft = {"warmstart-sft (checkpointing off)": cell("warmstart", "sft", "", "off", 51234.5, 20480, mfu=0.4123),
           "trl-sft (checkpointing off)": cell("trl", "sft", "", "off", 25617.2, 30720, mfu=0.2061)}
    grpo = {"warmstart-grpo (checkpointing off)": cell(
                "warmstart", "grpo", "", "off", 900.0, 5000, **{"time/rollout": 3.5, "time/update": 0.75,
                                                                 "memory_plan": "gradient checkpointing off (as set)"}),
            "trl-grpo (checkpointing off)": {**training_jobs.describe("trl", "grpo", "", "off"), "error": "CUDA OOM"}}
    compiled = {"warmstart-sft (checkpointing off)": cell("warmstart", "sft", "", "off", 60000.0, 19000, mfu=0.48)}
    sections = {"models": {"status": "ok", "seconds": 3.0, "result": {"m135": {}}},
                "bench_1p7b_sft_ckpt_off_bf16": {"status": "ok", "seconds": 50.0,
                                                 "result": training_line(sft, ["sft"])},
                "bench_1p7b_dpo_grpo": {"status": "ok", "seconds": 80.0, "result": training_line(grpo, ["grpo"])},
                "bench_1p7b_sft_ckpt_off_bf16_compile": {"status": "ok", "seconds": 40.0, "result": {
                    **training_line(compiled, ["sft"]), "compile": True}},
                "bench_135m_all": {"status": "failed", "seconds": 200, "error": "timed out after 200 s",
                                   "result": None},
                "generation": {"status": "skipped", "reason": "12 s of the budget left"}}
    path = tmp_path / "results-gpu.json"
    path.write_text(json.dumps({"check": "gpu", "machine": {"gpus": ["NVIDIA H200"], "torch": "2.13"},
                                "small_rehearsal": False, "started": "2026-11-30T04:00:00Z", "elapsed_s": 400,
                                "budget_s": 420, "sections": sections}))
    return path


def test_the_report_shows_each_job_each_comparison_and_every_sections_status(results, tmp_path, monkeypatch):
    out = tmp_path / "gpu.md"
    monkeypatch.setattr("sys.argv", ["gpu_report.py", "--results", str(results), "--out", str(out)])
    gpu_report.main()
    page = out.read_text()
    assert "| bench_1p7b_sft_ckpt_off_bf16 | sft | warmstart-sft | padding-free | off | bf16 | 51,234 | 20,480 | " \
           "0.4123 |" in page
    assert "| bench_1p7b_sft_ckpt_off_bf16 | sft | trl-sft | padded | off | bf16 | 25,617 | 30,720 | 0.2061 |" in page
    assert "| bench_1p7b_sft_ckpt_off_bf16 | sft | default layouts (checkpointing off) | 51,234 | 25,617 | 2.0 | " \
           "20,480 | 30,720 | 0.667 |" in page
    assert "| trl-grpo | padded | off | bf16 | failed: CUDA OOM |" in page
    assert "warmstart-sft | padding-free | off | bf16 + compile | 60,000 | 19,000 | 0.48 |" in page
    assert "GRPO rollout 3.5 s, update 0.75 s over the timed steps; memory plan: gradient checkpointing off" in page
    assert "| bench_135m_all | failed | 200 | timed out after 200 s |" in page
    assert "| generation | skipped |  | 12 s of the budget left |" in page
    assert "No GPU results yet" in gpu_report.render(None)


class Recorder(gpu_check.Check):
    """The check with its sections recorded, not run."""

    def run(self, name, command, limit, *, need=20, text_output=False):
        self.sections[name] = command
        return None


@pytest.mark.parametrize("small", [False, True])
def test_every_trainer_section_runs_training_py_with_flags_it_takes(small, tmp_path):
    check = Recorder(tmp_path, 600, small)
    models = {"m135": {"path": "/models/m135"}, "m1700": {"path": "/models/m1700"}}
    gpu_check.bench_1p7b(check, models, [("off", "fp32"), ("on", "bf16")])
    gpu_check.bench_1p7b(check, models, [("off", "bf16")], ["--compile", "--warmstart-only"])
    gpu_check.bench_135m(check, models)
    gpu_check.bench_1p7b_dpo_grpo(check, models)
    jobs = {}
    for name, command in check.sections.items():
        assert command[1] == "benchmarks/training.py", name
        args = training.parse_args(command[2:])
        jobs[name] = sorted({job for job, _ in training.cells(args)})
        assert args.device == check.device and args.gradient_checkpointing in ("on", "off"), name
    assert jobs["bench_1p7b_sft_ckpt_on_bf16"] == ["trl-sft", "warmstart-sft"]
    assert jobs["bench_1p7b_sft_ckpt_off_bf16_compile"] == ["warmstart-sft"]
    assert set(jobs["bench_135m_all"]) >= {"warmstart-grpo", "trl-grpo", "warmstart-dpo", "trl-dpo"}
    assert training.parse_args(check.sections["bench_1p7b_dpo_grpo"][2:]).trainers == ["dpo", "grpo"]


def test_mfu_is_each_trainers_model_flops_per_token_times_the_cells_rate_over_the_peak(tmp_path, bundled_model_path):
    from transformers import AutoTokenizer

    from tests.trainers.tiny_models import save_model, tiny_llama

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path)
    model = str(save_model(tiny_llama(tokenizer), tokenizer, tmp_path / "tiny"))
    rows = training_jobs.warmup_rows(4, seed=0)
    cells = {"ws-sft": cell("warmstart", "sft", "", "off", 1000.0, 1), "trl-dpo": cell("trl", "dpo", "", "on", 500.0, 1),
             "ws-grpo": cell("warmstart", "grpo", "", "off", 800.0, 1),
             "trl-sft": {**training_jobs.describe("trl", "sft", "", "on"), "error": "failed"}}
    flops = training.add_mfu(cells, rows, model, peak=1e11)
    per_token = {trainer: training.model_flops_per_token(rows, trainer, model) for trainer in ("sft", "dpo")}
    assert flops == {trainer: round(value) for trainer, value in per_token.items()}
    assert per_token["dpo"] != per_token["sft"] > 0  # DPO's sequences (prompt + each answer) are other lengths
    assert cells["ws-sft"]["mfu"] == round(per_token["sft"] * 1000.0 / 1e11, 4) > 0
    assert cells["trl-dpo"]["mfu"] == round(per_token["dpo"] * 500.0 / 1e11, 4) > 0
    assert "mfu" not in cells["ws-grpo"] and "mfu" not in cells["trl-sft"]  # sampling is no model FLOPs; no rate
