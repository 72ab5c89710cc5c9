"""`warmstart train --gpus N`: N torchrun processes, the run recorded by the launching process;
bad requests fail in one line before anything is written; a rank's typed error comes back as itself."""

import json
import subprocess

import pytest
import torch

from flows.cli import main
from schemas.errors import DeviceError, WarmstartError
from tiny_models import add_split, digit_sft_rows
from trainers.launch import _raise_worker_error


def train_cli(lake, model_dir, out, *extra):
    return main(["train", "sft", "--split", "sft", "--lake", str(lake.location), "--model", str(model_dir),
                 "--out", str(out), "--set", "progress=false", "--max-steps", "2", "--batch-size", "4", *extra])


@pytest.fixture
def splits(lake):
    add_split(lake, "sft", "sft", digit_sft_rows(8))
    return lake


@pytest.mark.slow
def test_gpus_2_on_cpu_trains_in_two_processes_and_records_the_run(splits, digit_model_dir, tmp_path, capsys):
    assert train_cli(splits, digit_model_dir, tmp_path / "out", "--gpus", "2", "--device", "cpu") == 0
    assert "memory: gradient checkpointing off" in capsys.readouterr().out
    run = splits.query("SELECT run_id, status FROM runs WHERE kind = 'train'").to_pylist()
    assert [r["status"] for r in run] == ["completed"]
    steps = splits.query(f"SELECT DISTINCT step FROM train_metrics WHERE run_id = '{run[0]['run_id']}'")
    assert sorted(steps.column("step").to_pylist()) == [1, 2]
    lineage = json.loads((tmp_path / "out" / "lineage.json").read_text())
    assert lineage["processes"] == 2 and lineage["split"] == "sft"


def test_more_gpus_than_the_machine_has_is_one_line(splits, digit_model_dir, tmp_path, capsys, monkeypatch):
    before = splits.latest_version()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert train_cli(splits, digit_model_dir, tmp_path / "out", "--gpus", "4", "--device", "cuda") == 7
    assert capsys.readouterr().err == "error: --gpus 4: this machine has 2 CUDA GPU(s)\n"
    assert splits.latest_version() == before and not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_gpus_without_cuda_says_how_to_use_cpu_processes(splits, digit_model_dir, tmp_path, capsys):
    assert train_cli(splits, digit_model_dir, tmp_path / "out", "--gpus", "2") == 7
    assert "--device cpu runs 2 CPU processes" in capsys.readouterr().err


def test_lora_is_refused_for_sharded_training(splits, digit_model_dir, tmp_path, capsys):
    assert train_cli(splits, digit_model_dir, tmp_path / "out", "--gpus", "2", "--device", "cpu", "--lora") == 2
    assert "--lora trains on one device" in capsys.readouterr().err


def test_a_rank_error_comes_back_as_its_own_class(tmp_path):
    done = subprocess.CompletedProcess([], 1, "", "boom\n")
    (tmp_path / "error-1.json").write_text(json.dumps({"type": "DeviceError", "message": "out of memory on cuda:1"}))
    with pytest.raises(DeviceError, match="^out of memory on cuda:1$"):
        _raise_worker_error(tmp_path, done)
    (tmp_path / "error-1.json").unlink()
    (tmp_path / "error-0.json").write_text(json.dumps({"type": "RuntimeError", "message": "bad"}))
    with pytest.raises(WarmstartError, match="training failed: RuntimeError: bad"):
        _raise_worker_error(tmp_path, done)
    (tmp_path / "error-0.json").unlink()
    with pytest.raises(WarmstartError, match="torchrun exited with code 1: boom"):
        _raise_worker_error(tmp_path, done)
