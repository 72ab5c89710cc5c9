"""`warmstart run` on the bundled model with vLLM: the terminal shows warmstart's own lines only."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# What engines print: log levels, Python warnings, tqdm bars, vLLM's process prefixes.
THIRD_PARTY = re.compile(r"WARNING|Warning|\bINFO\b|\bDEBUG\b|it/s\]|\((EngineCore|Worker|MainProcess)|"
                         r"Loading (safetensors|weights)")


@pytest.mark.slow
@pytest.mark.vllm
def test_run_on_the_bundled_model_prints_no_third_party_line(bundled_model_path, tmp_path):
    pytest.importorskip("vllm")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "lake": str(tmp_path / "lake"), "model": str(bundled_model_path), "backend": "vllm",
        "backend_options": {"gpu_memory_utilization": 0.1, "max_model_len": 512},
        "sources": [{"type": "reasoning_gym", "task": "gcd", "count": 4, "seed": 1,
                     "config": {"min_numbers": 2, "max_numbers": 2, "max_value": 20}}],
        "sampling": {"k": 2, "max_tokens": 32, "seed": 0}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLLM_")}  # vLLM as chatty as by default
    run = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(config)], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    shown = (run.stdout + run.stderr).splitlines()
    assert [line for line in shown if THIRD_PARTY.search(line)] == []
    assert any(line.startswith("generate ") for line in shown) and any("splits" in line for line in shown)
    log = Path(re.search(r"^engine log: (\S+)$", run.stderr, re.M)[1])
    text = log.read_text()
    assert THIRD_PARTY.search(text), "the engine's output is in the log"
    # The bundled model is saved in the dtype its config declares: vLLM casts (and warns about) no weight.
    assert "Attempted to load weight" not in text
