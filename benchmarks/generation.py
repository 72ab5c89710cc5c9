"""Generation throughput: warmstart's generate stage vs raw vLLM on the same engine vs HF generate.

Prints one JSON line. The same chain_sum prompts x k samples go through (a) generate_table with
the vLLM backend, (b) vllm.LLM.chat on that same engine, (c) the transformers backend (batch 16)
on the first HF_PROMPTS prompts only (HF is ~5x slower; tokens/s barely depends on the count).
vLLM rates are medians of REPEATS interleaved runs; the machine line says what ran it.
"""

import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries the JSON line only
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

N_PROMPTS, K, MAX_TOKENS, HF_PROMPTS, REPEATS = 64, 4, 96, 8, 3
MODEL = "smollm2-135m-instruct"


def build_prompts():
    """64 easy chain_sum questions as a prompts-like table."""
    import pyarrow as pa
    import reasoning_gym

    data = reasoning_gym.create_dataset("chain_sum", size=N_PROMPTS, seed=7, min_terms=2, max_terms=3,
                                        min_digits=1, max_digits=2)
    return pa.table({"prompt_id": [f"p{i}" for i in range(N_PROMPTS)],
                     "prompt": [entry["question"] for entry in data]})


def timed(run) -> tuple[float, int]:
    """Seconds and generated tokens of one run() -> token count."""
    start = time.perf_counter()
    tokens = run()
    return time.perf_counter() - start, tokens


def interleaved_rates(runs: dict, repeats: int = REPEATS) -> dict[str, float]:
    """Median tokens/s of each run, alternating their order per repeat so load drifts hit both."""
    rates = {name: [] for name in runs}
    for repeat in range(repeats):
        names = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in names:
            seconds, tokens = timed(runs[name])
            rates[name].append(tokens / seconds)
    return {name: statistics.median(values) for name, values in rates.items()}


def machine() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {device}"


def hf_rate(prompts, fmt, sampling) -> float:
    from curation.backends import load_backend
    from curation.generate import generate_table

    backend = load_backend("transformers", MODEL, options={"batch_size": 16})
    subset = prompts.slice(0, HF_PROMPTS)
    seconds, tokens = timed(
        lambda: sum(generate_table(backend, subset, fmt, sampling)["n_tokens"].to_pylist()))
    backend.close()
    return tokens / seconds


def vllm_rates(prompts, fmt, sampling) -> tuple[float, float, float]:
    from tqdm import tqdm
    from vllm import SamplingParams

    from curation.backends import load_backend
    from curation.generate import conversation, generate_table

    start = time.perf_counter()
    backend = load_backend("vllm", MODEL, seed=sampling.seed)
    load_s = time.perf_counter() - start
    llm = backend._llm  # the raw engine, same settings as ours
    chats = [conversation(text, fmt) for text in prompts["prompt"].to_pylist()]
    params = SamplingParams(n=K, temperature=sampling.temperature, top_p=sampling.top_p,
                            max_tokens=sampling.max_tokens)

    def raw() -> int:
        outputs = llm.chat(chats, params, use_tqdm=False)
        return sum(len(c.token_ids) for out in outputs for c in out.outputs)

    def ours() -> int:
        with tqdm(total=len(chats), desc="generate_table", file=sys.stderr, leave=False) as bar:
            table = generate_table(backend, prompts, fmt, sampling,
                                   progress=lambda done: bar.update(done - bar.n))
        return sum(table["n_tokens"].to_pylist())

    raw()  # warm-up: first-call allocations
    rates = interleaved_rates({"ours": ours, "raw": raw})
    backend.close()
    return rates["ours"], rates["raw"], load_s


def main() -> None:
    from curation.backends import Sampling
    from curation.generate import PromptFormat

    load_start = round(os.getloadavg()[0], 1)  # other work on the machine skews every rate
    prompts, fmt = build_prompts(), PromptFormat()
    sampling = Sampling(k=K, temperature=0.8, max_tokens=MAX_TOKENS, seed=0)
    hf = hf_rate(prompts, fmt, sampling)
    ours, raw, load_s = vllm_rates(prompts, fmt, sampling)
    print(json.dumps({
        "name": "generation", "machine": machine(), "model": MODEL, "prompts": N_PROMPTS, "k": K,
        "max_tokens": MAX_TOKENS, "hf_prompts": HF_PROMPTS, "vllm_load_s": round(load_s, 1),
        "ours_vllm_tok_s": round(ours, 1), "raw_vllm_tok_s": round(raw, 1), "hf_tok_s": round(hf, 1),
        "ours_over_raw_vllm": round(ours / raw, 3), "ours_over_hf": round(ours / hf, 2),
        "load_avg_start_end": [load_start, round(os.getloadavg()[0], 1)]}))


if __name__ == "__main__":
    main()
