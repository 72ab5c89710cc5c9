"""warmstart trainers vs TRL's SFTTrainer and DPOTrainer, every setting that matters both ways:
tokens/s and peak memory of each cell, side by side. Prints one JSON line.

The matrix: gradient checkpointing on/off x each framework's layouts (training_jobs.VARIANTS):
warmstart packed (padding-free micro-batches, its default) and padded; TRL padded (its default),
padding_free, and packing (bfd blocks of max_length); DPO also with TRL's precompute_ref_log_probs.
Same model, data, batch, steps, lr, schedule, max_length, attention implementation and bf16
autocast (CUDA) / fp32 (CPU) everywhere; loss on every token for SFT (TRL cannot mask assistant
turns with this chat template). Each cell runs in its own process (its peak memory is its own);
with --repeats N the cells run N rounds, alternating their order, and report medians. Comparisons:
equal settings (same checkpointing, same layout family, same reference), each side's defaults,
each side's fastest cell and each side's least-memory cell.

Usage (every flag optional; lists are comma-separated):
    python benchmarks/training.py [--trainers sft,dpo] [--steps 6] [--batch-size 8] [--max-length 512]
        [--device auto|cpu|cuda] [--model NAME_OR_DIR] [--threads N] [--repeats 1]
        [--gradient-checkpointing on|off|both] [--variants warmstart-sft,trl-sft-packing,...]
        [--no-padded] [--warmstart-only] [--ours-set KEY=VALUE ...] [--trl-set KEY=VALUE ...]
--ours-set passes dotted overrides to warmstart's trainer config (as `warmstart train --set`);
--trl-set passes SFTConfig / DPOConfig keywords (YAML values), e.g. use_liger_kernel=true.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from peers import load_average, versions  # noqa: E402
from training_jobs import (DEFAULT_CHECKPOINTING, VARIANTS, describe, job_name, parse_job, run_trl,  # noqa: E402
                           run_warmstart, warmup_rows, write_data)

PASSED = ("steps", "batch_size", "max_length", "device", "model", "threads")
PEER_DISTRIBUTIONS = ("trl", "transformers", "torch", "accelerate", "datasets")


def job(name: str, checkpointing: str, args) -> dict:
    """Run one cell in a child process; its stdout carries one JSON line."""
    cmd = [sys.executable, __file__, "--job", name, "--data", str(args.data), "--gradient-checkpointing", checkpointing]
    for key in PASSED:
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    cmd += [item for pair in args.ours_set for item in ("--ours-set", pair)]
    cmd += [item for key, value in args.trl_set for item in ("--trl-set", f"{key}={json.dumps(value)}")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1][:300] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def cells(args) -> list[tuple[str, str]]:
    """(job name, checkpointing) of every cell to run, in a fixed order."""
    names = args.variants or [job_name(f, t, v) for t in args.trainers for (f, kind), variants in VARIANTS.items()
                              if kind == t for v in variants]
    names = [n for n in names if not (args.no_padded and parse_job(n)[2] == "padded")
             and not (args.warmstart_only and parse_job(n)[0] != "warmstart")]
    switches = ["off", "on"] if args.gradient_checkpointing == "both" else [args.gradient_checkpointing]
    return [(name, gc) for gc in switches for name in names]


def cell_key(name: str, checkpointing: str) -> str:
    return f"{name} (checkpointing {checkpointing})"


def run_cells(args) -> dict[str, dict]:
    """Every cell, `repeats` rounds (odd rounds in reverse order); medians of tokens/s and memory."""
    todo, runs = cells(args), {}
    for repeat in range(args.repeats):
        for name, gc in (todo if repeat % 2 == 0 else list(reversed(todo))):
            print(f"running {cell_key(name, gc)} [{repeat + 1}/{args.repeats}] ...", file=sys.stderr, flush=True)
            runs.setdefault((name, gc), []).append(job(name, gc, args))
    return {cell_key(name, gc): summarize(describe(*parse_job(name), gc), results) for (name, gc), results in runs.items()}


def summarize(settings: dict, results: list[dict]) -> dict:
    good = [r for r in results if "error" not in r]
    if not good:
        return {**settings, "error": results[-1]["error"]}
    median = lambda key: statistics.median(r[key] for r in good)  # noqa: E731
    return {**settings, "tokens_per_s": round(median("tokens_per_s"), 1),
            "tokens_per_s_runs": [round(r["tokens_per_s"], 1) for r in good],
            "peak_mem_mb": round(median("peak_mem_mb")), "tokens_per_step": round(median("tokens_per_step")),
            "upfront_s": round(median("upfront_s"), 2), "failed_runs": len(results) - len(good)}


def comparisons(cells_: dict[str, dict], trainers: list[str]) -> list[dict]:
    """Ours vs TRL: at equal settings first, then defaults, fastest and least-memory cells."""
    ok = {key: c for key, c in cells_.items() if "error" not in c}
    out = []
    for trainer in trainers:
        side = {fw: {k: c for k, c in ok.items() if c["framework"] == fw and c["trainer"] == trainer}
                for fw in ("warmstart", "trl")}
        if not side["warmstart"] or not side["trl"]:
            continue
        for ours_key, ours in side["warmstart"].items():
            for trl_key, theirs in side["trl"].items():
                if all(ours[k] == theirs[k] for k in ("layout", "reference", "gradient_checkpointing")):
                    label = f"{ours['layout']}, checkpointing {ours['gradient_checkpointing']}"
                    out.append(pair("equal settings", trainer, label, ours_key, trl_key, ok))
        defaults = {fw: next((k for k, c in group.items() if c["is_default"]), None) for fw, group in side.items()}
        if all(defaults.values()):
            out.append(pair("defaults", trainer, "each side's defaults", defaults["warmstart"], defaults["trl"], ok))
        fastest = {fw: max(group, key=lambda k: group[k]["tokens_per_s"]) for fw, group in side.items()}
        out.append(pair("fastest", trainer, "each side's fastest cell", fastest["warmstart"], fastest["trl"], ok))
        leanest = {fw: min(group, key=lambda k: group[k]["peak_mem_mb"]) for fw, group in side.items()}
        out.append(pair("least memory", trainer, "each side's least-memory cell", leanest["warmstart"],
                        leanest["trl"], ok))
    return out


def pair(kind: str, trainer: str, label: str, ours: str, theirs: str, cells_: dict) -> dict:
    a, b = cells_[ours], cells_[theirs]
    return {"kind": kind, "trainer": trainer, "label": label, "ours": ours, "reference": theirs,
            "ours_tokens_per_s": a["tokens_per_s"], "trl_tokens_per_s": b["tokens_per_s"],
            "speedup": round(a["tokens_per_s"] / b["tokens_per_s"], 3),
            "ours_peak_mem_mb": a["peak_mem_mb"], "trl_peak_mem_mb": b["peak_mem_mb"],
            "memory_ratio": round(a["peak_mem_mb"] / b["peak_mem_mb"], 3)}


def key_value(item: str) -> tuple[str, object]:
    key, sep, value = item.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {item!r}")
    return key, yaml.safe_load(value)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainers", type=lambda s: s.split(","), default=["sft", "dpo"])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per job (the first is not timed)")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per step")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per job (0: torch default)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds over all cells; medians are reported")
    parser.add_argument("--gradient-checkpointing", choices=["off", "on", "both"], default="both")
    parser.add_argument("--variants", type=lambda s: s.split(","), help="only these jobs, e.g. trl-sft-packing")
    parser.add_argument("--no-padded", action="store_true", help="skip warmstart's padded jobs")
    parser.add_argument("--warmstart-only", action="store_true", help="skip the TRL jobs")
    parser.add_argument("--ours-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--trl-set", action="append", default=[], type=key_value, metavar="KEY=VALUE")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def main() -> None:
    args = parse_args()
    if args.job:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)  # on a shared CPU, one thread per job avoids oversubscription
        framework, trainer, variant = parse_job(args.job)
        run = run_warmstart if framework == "warmstart" else run_trl
        print(json.dumps(run(trainer, args, args.data, variant)))
        return
    load_start = load_average()
    args.data = Path(tempfile.mkdtemp())
    rows = warmup_rows(args.steps * args.batch_size, seed=0)
    write_data(rows, args.data)
    results = run_cells(args)
    lengths = sft_lengths(rows, args.model)
    print(json.dumps({
        "benchmark": "training", "model": args.model, "device": args.device, "device_name": device_name(args.device),
        "threads": args.threads or None, "steps": args.steps, "batch_size": args.batch_size,
        "max_length": args.max_length, "examples": len(rows), "repeats": args.repeats,
        "versions": versions(*PEER_DISTRIBUTIONS), "ours_set": args.ours_set, "trl_set": dict(args.trl_set),
        "default_checkpointing": DEFAULT_CHECKPOINTING,
        "sft_tokens_min_mean_max": [min(lengths), round(sum(lengths) / len(lengths)), max(lengths)],
        "cells": results, "comparisons": comparisons(results, args.trainers),
        "load_avg_start_end": [load_start, load_average()]}))


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def sft_lengths(rows: list[dict], model: str) -> list[int]:
    """Chat-templated token counts of the SFT rows (the spread that padding wastes)."""
    from curation.models import resolve_model
    from trainers.collate import encode_chat
    from trainers.run import load_tokenizer

    tokenizer = load_tokenizer(resolve_model(model))
    return [len(encode_chat(tokenizer, r["messages"], max_length=4096).input_ids) for r in rows]


if __name__ == "__main__":
    main()
