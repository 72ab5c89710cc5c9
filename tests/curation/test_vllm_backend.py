"""Smoke test of the vLLM backend on the bundled model, in a child process.

vLLM binds CPU threads, seeds the global RNG and keeps its engine state in the process that
builds it; a child process keeps all of that out of the pytest process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MARK = "VLLM_SMOKE_RESULT "


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_backend_generates_on_the_bundled_model(bundled_model_path):
    pytest.importorskip("vllm")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_LOGGING_LEVEL": "ERROR",
           "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, __file__, str(bundled_model_path)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith(MARK))
    result = json.loads(line[len(MARK):])
    assert result["model_name"] == "smollm2-135m-instruct"
    plain, continued = result["plain"], result["continued"]
    assert [len(r) for r in plain] == [2, 2] and [len(r) for r in continued] == [2, 2]
    for completion in (c for r in plain + continued for c in r):
        assert 1 <= completion["n_tokens"] <= 16
        assert completion["finish_reason"] == ("length" if completion["n_tokens"] == 16 else "stop")
    assert any(c["text"].strip() for r in plain for c in r)
    assert all(0 < c["mean_entropy"] < 10 for r in plain for c in r)
    assert all(c["mean_entropy"] is None for r in continued for c in r)
    assert not any(c["text"].startswith("The sum of") for r in continued for c in r)


def _smoke(model_dir: str) -> dict:
    from dataclasses import asdict

    from curation.backends import Sampling, load_backend

    backend = load_backend("vllm", model_dir, seed=0, options={"max_model_len": 512})
    chats = [[{"role": "user", "content": "What is 2 + 3? Give the final answer after 'Answer:'."}],
             [{"role": "user", "content": "Name a primary color."}]]
    sampling = Sampling(k=2, temperature=0.8, max_tokens=16)
    plain = backend.generate(chats, 2, sampling, want_entropy=True)
    continued = backend.generate(chats, 2, sampling, prefixes=["The sum of", "One primary color is"])
    backend.close()
    return {"model_name": backend.model_name,
            "plain": [[asdict(c) for c in r] for r in plain],
            "continued": [[asdict(c) for c in r] for r in continued]}


def test_engine_options_reach_vllm_and_eager_mode_follows_the_device(monkeypatch, tmp_path):
    """enforce_eager unset: eager without CUDA, CUDA graphs with it; the executor backend passes through."""
    import types

    import torch

    from curation.backends.vllm_backend import VLLMBackend, resolve_enforce_eager

    built = []
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=lambda **kw: built.append(kw)))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    VLLMBackend(tmp_path, options={"tensor_parallel_size": 2, "distributed_executor_backend": "ray"})
    VLLMBackend(tmp_path, options={"enforce_eager": True})
    assert built[0]["enforce_eager"] is False and built[1]["enforce_eager"] is True
    assert (built[0]["tensor_parallel_size"], built[0]["distributed_executor_backend"]) == (2, "ray")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_enforce_eager(None) is True and resolve_enforce_eager(False) is False


if __name__ == "__main__":
    print(MARK + json.dumps(_smoke(sys.argv[1])), flush=True)
