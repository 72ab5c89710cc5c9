"""Generation tokens/s through warmstart's backends on a GPU, per model: vLLM with eager mode and
with CUDA graphs (the default on CUDA); without vLLM installed, the transformers backend, labelled
so. Prompts: short arithmetic questions; k samples each; fixed max_tokens (random-init models
rarely stop early, so the token count is about prompts x k x max_tokens). Prints one JSON line.

Usage: python benchmarks/generation_gpu.py --model m135=DIR --model m1700=DIR [--prompts 256] [--k 4]
         [--max-tokens 128] [--tensor-parallel-size 1]
"""

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries the JSON line only


def conversations(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"What is {17 * i % 997} + {31 * i % 991}? Think step by step."}]
            for i in range(n)]


def rate(backend, chats, sampling) -> dict:
    """Tokens/s of one timed generate call after a short warm-up."""
    backend.generate(chats[:8], 1, sampling)
    start = time.perf_counter()
    results = backend.generate(chats, sampling.k, sampling)
    seconds = time.perf_counter() - start
    tokens = sum(c.n_tokens for row in results for c in row)
    return {"tokens_per_s": round(tokens / seconds, 1), "tokens": tokens, "seconds": round(seconds, 2)}


def measure(path: str, args) -> dict:
    import torch

    from curation.backends import Sampling, load_backend

    sampling = Sampling(k=args.k, temperature=0.8, max_tokens=args.max_tokens, seed=0)
    chats, out = conversations(args.prompts), {}
    if importlib.util.find_spec("vllm") is None:
        backend = load_backend("transformers", path, options={"device": "cuda" if torch.cuda.is_available() else "cpu",
                                                              "dtype": "bfloat16", "batch_size": 256})
        out["transformers"] = rate(backend, chats[:min(len(chats), 64)], sampling)
        backend.close()
        return out
    for eager in (True, False):
        start = time.perf_counter()
        backend = load_backend("vllm", path, options={"enforce_eager": eager, "gpu_memory_utilization": 0.8,
                                                      "max_model_len": 1024, "batch_size": len(chats),
                                                      "tensor_parallel_size": args.tensor_parallel_size})
        load_s = time.perf_counter() - start
        out["vllm_eager" if eager else "vllm_cuda_graphs"] = {**rate(backend, chats, sampling),
                                                              "load_s": round(load_s, 1)}
        backend.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=DIR (repeatable)")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    args = parser.parse_args()
    results = {name: measure(path, args) for name, path in (m.split("=", 1) for m in args.model)}
    print(json.dumps({"benchmark": "generation_gpu", "vllm": importlib.util.find_spec("vllm") is not None,
                      "prompts": args.prompts, "k": args.k, "max_tokens": args.max_tokens,
                      "tensor_parallel_size": args.tensor_parallel_size, "results": results}))


if __name__ == "__main__":
    main()
