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



class FakeLLM:
    """Stands in for vllm.LLM: answers each request with its seed, remembers what it was asked."""

    calls: list = []
    built: list = []  # the options of every engine built

    def __init__(self, model, seed, **options):
        self.engine_seed = seed
        FakeLLM.built.append(options)

    def get_tokenizer(self):
        return type("Tokenizer", (), {"chat_template": "{{ messages }}"})()

    def chat(self, requests, params, **kwargs):
        FakeLLM.calls.append((requests, params))
        params = params if isinstance(params, list) else [params] * len(requests)
        out = lambda i, p: type("Out", (), {"text": f"seed {p.seed} #{i}", "token_ids": [1, 2],  # noqa: E731
                                            "finish_reason": "stop", "logprobs": None})()
        return [type("Request", (), {"outputs": [out(i, p) for i in range(p.n)]})() for p in params]


def fake_vllm(monkeypatch, *, cuda: bool):
    """A vllm module whose platform is CUDA or CPU, with FakeLLM as its engine."""
    import types

    from curation.backends import vllm_backend

    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    platforms = types.ModuleType("vllm.platforms")
    platforms.current_platform = types.SimpleNamespace(is_cuda_alike=lambda: cuda)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.platforms", platforms)
    FakeLLM.calls, FakeLLM.built = [], []
    return vllm_backend


def test_on_cuda_every_sample_is_a_request_with_the_seed_of_its_id(monkeypatch, tiny_model_dir):
    import pyarrow as pa

    from curation.backends import Sampling
    from curation.generate import PromptFormat, SampleIdentity, generate_table
    from curation.sample_identity import request_seed

    backend = fake_vllm(monkeypatch, cuda=True).VLLMBackend(tiny_model_dir)
    assert backend.supports_request_seeds
    prompts = pa.table({"prompt_id": ["a", "b"], "prompt": ["1+1?", "2+2?"]})
    table = generate_table(backend, prompts, PromptFormat(), Sampling(k=3))
    (requests, params), = FakeLLM.calls
    assert len(requests) == 6 and all(p.n == 1 for p in params)
    identity = SampleIdentity.of(backend, PromptFormat(), Sampling(k=3))
    for row in table.to_pylist():
        assert row["generation_id"] == identity.generation_id(row["prompt_id"], {"a": "1+1?", "b": "2+2?"}[
            row["prompt_id"]], row["sample_index"])
        assert row["seed"] == request_seed(row["generation_id"]) and row["response"] == f"seed {row['seed']} #0"


def test_on_the_cpu_build_requests_draw_from_the_engine_seed(monkeypatch, tiny_model_dir):
    import pyarrow as pa

    from curation.backends import Sampling, reported_model_name
    from curation.generate import PromptFormat, generate_table
    from schemas.errors import ModelError

    backend = fake_vllm(monkeypatch, cuda=False).VLLMBackend(tiny_model_dir)
    assert not backend.supports_request_seeds
    assert backend.model_name == reported_model_name("vllm", tiny_model_dir) == tiny_model_dir.name
    table = generate_table(backend, pa.table({"prompt_id": ["a"], "prompt": ["1+1?"]}), PromptFormat(), Sampling(k=3))
    (requests, params), = FakeLLM.calls
    assert len(requests) == 1 and params.n == 3 and params.seed is None
    assert table.column("seed").to_pylist() == [None] * 3
    with pytest.raises(ModelError, match="per-request seeds"):
        backend.generate([[{"role": "user", "content": "x"}]], 1, Sampling(), seeds=[[1]])


def test_engine_options_reach_vllm_and_eager_mode_follows_the_device(monkeypatch, tiny_model_dir):
    """enforce_eager unset: eager without CUDA, CUDA graphs with it; the executor backend passes through."""
    import torch

    from curation.backends.vllm_backend import resolve_enforce_eager

    backend_class = fake_vllm(monkeypatch, cuda=True).VLLMBackend
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    backend_class(tiny_model_dir, options={"tensor_parallel_size": 2, "distributed_executor_backend": "ray"})
    backend_class(tiny_model_dir, options={"enforce_eager": True})
    built = FakeLLM.built
    assert built[0]["enforce_eager"] is False and built[1]["enforce_eager"] is True
    assert (built[0]["tensor_parallel_size"], built[0]["distributed_executor_backend"]) == (2, "ray")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_enforce_eager(None) is True and resolve_enforce_eager(False) is False


if __name__ == "__main__":
    print(MARK + json.dumps(_smoke(sys.argv[1])), flush=True)
