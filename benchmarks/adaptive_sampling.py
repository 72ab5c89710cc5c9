"""Adaptive k vs fixed k (open-r1's pass-rate filter): tokens per kept RL prompt, and kept-set overlap.

Fixed k samples max_k answers for every prompt and keeps 0 < pass < 1. Adaptive k runs on
(1) the very same samples, served back in order (so the kept sets compare exactly), with a
sweep over the give-up probability, and (2) live, with fresh samples from the backend.
Prints one JSON line. Usage: python benchmarks/adaptive_sampling.py [--backend vllm] [--prompts 48]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # stdout carries only the JSON line

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from tqdm import tqdm  # noqa: E402

from curation.adaptive import AdaptiveConfig, sample_adaptively  # noqa: E402
from curation.backends import load_backend  # noqa: E402
from curation.backends.base import Completion, GenerationBackend, Sampling  # noqa: E402
from curation.difficulty import DifficultyConfig, RLFilterConfig, prompt_stats, rl_filter  # noqa: E402
from curation.generate import PromptFormat, generate_table  # noqa: E402
from curation.verifiers import verdicts_table  # noqa: E402
from schemas.ids import content_id  # noqa: E402

TASKS = {"chain_sum": dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1),
         "gcd": dict(min_numbers=2, max_numbers=2, min_value=1, max_value=20)}


def build_prompts(n: int, seed: int) -> pa.Table:
    import reasoning_gym

    rows, seen = [], set()
    for t, (task, kwargs) in enumerate(TASKS.items()):
        size = n // len(TASKS) + (t < n % len(TASKS))
        entries = [e for e in reasoning_gym.create_dataset(task, size=4 * size, seed=seed, **kwargs)
                   if not (e["question"] in seen or seen.add(e["question"]))][:size]  # easy settings repeat
        for entry in entries:
            rows.append({"prompt_id": content_id("reasoning_gym", task, entry["question"]), "source": "reasoning_gym",
                         "task": task, "prompt": entry["question"], "answer": entry["answer"],
                         "verifier": "reasoning_gym", "metadata": json.dumps(entry["metadata"], default=str)})
    return pa.Table.from_pylist(rows)


class RecordedBackend(GenerationBackend):
    """Serves the fixed-k samples of each prompt back in sample order and counts tokens served."""

    def __init__(self, generations: pa.Table, prompts: pa.Table, fmt: PromptFormat, model_name: str):
        self.model_name, self.tokens = model_name, 0
        text_of = dict(zip(prompts.column("prompt_id").to_pylist(), prompts.column("prompt").to_pylist()))
        self.samples: dict[str, list[Completion]] = {}
        for row in sorted(generations.to_pylist(), key=lambda r: (r["prompt_id"], r["sample_index"])):
            key = fmt.user_text(text_of[row["prompt_id"]])
            self.samples.setdefault(key, []).append(Completion(row["response"], row["n_tokens"], row["finish_reason"]))
        self.cursor = {key: 0 for key in self.samples}

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        out = []
        for conv in conversations:
            key = conv[-1]["content"]
            start, self.cursor[key] = self.cursor[key], self.cursor[key] + n
            out.append(self.samples[key][start:start + n])
            self.tokens += sum(c.n_tokens for c in out[-1])
        return out


def kept_by_fixed_k(generations: pa.Table, prompts: pa.Table) -> tuple[set[str], int]:
    verdicts = verdicts_table(generations, prompts)
    kept = rl_filter(prompt_stats(generations, verdicts, DifficultyConfig()), RLFilterConfig()).kept
    return set(kept.column("prompt_id").to_pylist()), sum(generations.column("n_tokens").to_pylist())


def no_loss_ceiling(generations: pa.Table, prompts: pa.Table, fixed_per_kept: float) -> float:
    """The best tokens-per-kept ratio any sequential rule keeping the whole fixed-k set can reach:
    a kept prompt stops at the sample that first shows both outcomes, the others need all max_k."""
    verdicts = verdicts_table(generations, prompts)
    correct = dict(zip(verdicts.column("generation_id").to_pylist(), verdicts.column("correct").to_pylist()))
    seqs: dict[str, list] = {}
    for g in sorted(generations.to_pylist(), key=lambda g: g["sample_index"]):
        seqs.setdefault(g["prompt_id"], []).append((correct[g["generation_id"]], g["n_tokens"]))
    tokens, kept = 0, 0
    for seq in seqs.values():
        outcomes = [ok for ok, _ in seq]
        if 0 < sum(outcomes) < len(outcomes):
            stop = next(i for i in range(len(seq)) if len(set(outcomes[: i + 1])) == 2) + 1
            tokens, kept = tokens + sum(t for _, t in seq[:stop]), kept + 1
        else:
            tokens += sum(t for _, t in seq)
    return round(fixed_per_kept / (tokens / kept), 2) if kept else 0.0


def kept_by_adaptive(result) -> set[str]:
    return {r["prompt_id"] for r in result.effective_k.to_pylist() if 0 < r["n_correct"] < r["effective_k"]}


def summary(tokens: int, kept: set[str], fixed_kept: set[str], fixed_per_kept: float) -> dict:
    per_kept = tokens / len(kept) if kept else None
    return {"tokens": tokens, "kept": len(kept), "tokens_per_kept": round(per_kept, 1) if kept else None,
            "token_ratio_per_kept": round(fixed_per_kept / per_kept, 2) if kept else 0.0,
            "kept_recall_vs_fixed": round(len(kept & fixed_kept) / len(fixed_kept), 3) if fixed_kept else None}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="transformers", choices=["transformers", "vllm"])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--max-k", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-live", action="store_true", help="only the same-samples comparison")
    parser.add_argument("--save", type=Path, help="write the fixed-k generations to this Parquet file")
    parser.add_argument("--load", type=Path, help="reuse fixed-k generations from --save (implies --skip-live)")
    return parser.parse_args()


def fixed_k_samples(args, prompts: pa.Table, fmt: PromptFormat, sampling: Sampling):
    """(fixed-k generations, the live backend or None when loaded from a file, model name)."""
    if args.load:
        fixed = pq.read_table(args.load)
        return fixed, None, fixed.column("model")[0].as_py()
    options = {"batch_size": 64} if args.backend == "transformers" else {}
    backend = load_backend(args.backend, args.model, seed=args.seed, options=options)
    with tqdm(total=prompts.num_rows, desc=f"fixed k={args.max_k}") as bar:
        fixed = generate_table(backend, prompts, fmt, sampling, shard_size=16,
                               progress=lambda done: bar.update(done - bar.n))
    if args.save:
        pq.write_table(fixed, args.save)
    return fixed, backend, backend.model_name


def give_up_sweep(fixed, prompts, fmt, sampling, max_k: int, fixed_kept: set[str], fixed_per_kept: float):
    """Adaptive k replayed on the fixed-k samples, for several give-up probabilities."""
    sweep = []
    for give_up in (0.0, 0.02, 0.05, 0.1, 0.2):
        replay = RecordedBackend(fixed, prompts, fmt, fixed.column("model")[0].as_py())
        result = sample_adaptively(replay, prompts, fmt, sampling,
                                   AdaptiveConfig(max_k=max_k, give_up_probability=give_up))
        sweep.append({"give_up_probability": give_up,
                      **summary(replay.tokens, kept_by_adaptive(result), fixed_kept, fixed_per_kept)})
    return sweep


def live_run(backend, prompts, fmt, sampling, max_k: int, fixed_kept: set[str], fixed_per_kept: float) -> dict:
    """Adaptive k with fresh samples (its kept set also differs by sampling noise)."""
    started = time.time()
    with tqdm(desc="adaptive rounds (live)") as bar:
        result = sample_adaptively(backend, prompts, fmt, sampling, AdaptiveConfig(max_k=max_k),
                                   shard_size=16, progress=lambda r, active: bar.update(1))
    tokens = sum(result.generations.column("n_tokens").to_pylist())
    return {**summary(tokens, kept_by_adaptive(result), fixed_kept, fixed_per_kept),
            "seconds": round(time.time() - started, 1)}


def main() -> None:
    args = parse_args()
    prompts, fmt = build_prompts(args.prompts, args.seed), PromptFormat()
    sampling = Sampling(k=args.max_k, temperature=0.8, max_tokens=args.max_tokens, seed=args.seed)
    started = time.time()
    fixed, backend, model_name = fixed_k_samples(args, prompts, fmt, sampling)
    fixed_seconds = time.time() - started
    fixed_kept, fixed_tokens = kept_by_fixed_k(fixed, prompts)
    fixed_per_kept = fixed_tokens / len(fixed_kept) if fixed_kept else float("inf")
    sweep = give_up_sweep(fixed, prompts, fmt, sampling, args.max_k, fixed_kept, fixed_per_kept)
    default = next(s for s in sweep if s["give_up_probability"] == AdaptiveConfig().give_up_probability)
    live = None
    if backend is not None and not args.skip_live:
        live = live_run(backend, prompts, fmt, sampling, args.max_k, fixed_kept, fixed_per_kept)
    print(json.dumps({
        "benchmark": "adaptive_sampling", "backend": f"loaded:{args.load}" if args.load else args.backend,
        "model": model_name, "prompts": prompts.num_rows, "tasks": list(TASKS), "max_k": args.max_k,
        "max_tokens": args.max_tokens,
        "fixed_k": {"tokens": fixed_tokens, "kept": len(fixed_kept), "tokens_per_kept": round(fixed_per_kept, 1),
                    "seconds": round(fixed_seconds, 1)},
        "adaptive_same_samples": default,
        "no_loss_ceiling_ratio": no_loss_ceiling(fixed, prompts, fixed_per_kept),
        "adaptive_live": live, "give_up_sweep": sweep,
        "goal": {"token_ratio_per_kept": ">= 2", "kept_recall_vs_fixed": ">= 0.95"},
        "goal_met": default["token_ratio_per_kept"] >= 2 and (default["kept_recall_vs_fixed"] or 0) >= 0.95,
    }))


if __name__ == "__main__":
    main()
