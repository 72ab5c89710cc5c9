"""warmstart trainers vs TRL's SFTTrainer, DPOTrainer and GRPOTrainer in every setting that matters.

Both ways: tokens/s, peak memory and (CUDA) MFU of each cell, side by side. Prints one JSON line.

The matrix: gradient checkpointing on/off x each framework's layouts (training_jobs.VARIANTS):
warmstart packed (padding-free micro-batches, its default) and padded; TRL padded (its default),
padding_free, and packing (bfd blocks of max_length); DPO also with TRL's precompute_ref_log_probs;
GRPO (not run by default) warmstart's packed update vs TRL's padded one, both sampling with
transformers. Same model, data, batch, steps, lr, schedule, max_length, attention implementation,
weight dtype (`--weights`: fp32 weights run under bf16 autocast on CUDA, fp32 on CPU) everywhere;
loss on every token for SFT (TRL cannot mask assistant turns with this chat template); `--compile`
compiles warmstart's decoder layers only. Each cell runs in its own process (its peak memory is
its own); with --repeats N the cells run N rounds, alternating their order, and report medians.
Comparisons: equal settings (same checkpointing, layout family, reference), each side's default
layout at the same checkpointing, each side's defaults, fastest and least-memory cells. MFU =
model FLOPs per second / the device's dense bf16 peak, model FLOPs per token from trainers/flops.py
over the benchmark's sequences (SFT and DPO; docs/gpu.md states the formula).

Usage (every flag optional; lists are comma-separated):
    python benchmarks/training.py [--trainers sft,dpo[,grpo]] [--steps 6] [--batch-size 8] [--max-length 512]
        [--device auto|cpu|cuda] [--model NAME_OR_DIR] [--threads N] [--repeats 1]
        [--gradient-checkpointing on|off|both] [--variants warmstart-sft,trl-sft-packing,...]
        [--no-padded] [--warmstart-only] [--weights fp32|bf16] [--compile]
        [--generations 4] [--max-new-tokens 64] [--ours-set KEY=VALUE ...] [--trl-set KEY=VALUE ...]
--ours-set passes dotted overrides to warmstart's trainer config (as `warmstart train --set`);
--trl-set passes SFTConfig / DPOConfig / GRPOConfig keywords (YAML values), e.g. use_liger_kernel=true.
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
from training_jobs import (DEFAULT_CHECKPOINTING, TRAINERS, VARIANTS, describe, job_name, parse_job,  # noqa: E402
                           run_warmstart, warmup_rows, write_data)
from training_trl import run_trl  # noqa: E402

PASSED = ("steps", "batch_size", "max_length", "device", "model", "threads", "weights", "generations",
          "max_new_tokens")
PEER_DISTRIBUTIONS = ("trl", "transformers", "torch", "accelerate", "datasets")
OPTIONAL_MEDIANS = ("train_mem_mb", "time/rollout", "time/update")  # CPU jobs; warmstart's phases


def job(name: str, checkpointing: str, args) -> dict:
    """Run one cell in a child process; its stdout carries one JSON line."""
    cmd = [sys.executable, __file__, "--job", name, "--data", str(args.data), "--gradient-checkpointing", checkpointing]
    for key in PASSED:
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    cmd += ["--compile"] if args.compile else []
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
    """A cell: its settings, the medians of its good runs, and the failed runs' count (or the last error)."""
    good = [r for r in results if "error" not in r]
    if not good:
        return {**settings, "error": results[-1]["error"]}
    median = lambda key: statistics.median(r[key] for r in good)  # noqa: E731
    out = {**settings, "tokens_per_s": round(median("tokens_per_s"), 1),
           "tokens_per_s_runs": [round(r["tokens_per_s"], 1) for r in good],
           "peak_mem_mb": round(median("peak_mem_mb")), "tokens_per_step": round(median("tokens_per_step")),
           "upfront_s": round(median("upfront_s"), 2), "failed_runs": len(results) - len(good)}
    out.update({key: round(median(key), 3) for key in OPTIONAL_MEDIANS if all(key in r for r in good)})
    if "memory_plan" in good[-1]:
        out["memory_plan"] = good[-1]["memory_plan"]
    return out


def comparisons(cells_: dict[str, dict], trainers: list[str]) -> list[dict]:
    """Ours vs TRL: at equal settings first, then default layouts at equal checkpointing, defaults,
    fastest and least-memory cells."""
    ok = {key: c for key, c in cells_.items() if "error" not in c}
    out = []
    for trainer in trainers:
        side = {fw: {k: c for k, c in ok.items() if c["framework"] == fw and c["trainer"] == trainer}
                for fw in ("warmstart", "trl")}
        if not side["warmstart"] or not side["trl"]:
            continue
        for ours_key, ours in side["warmstart"].items():
            for trl_key, theirs in side["trl"].items():
                checkpointing = ours["gradient_checkpointing"]
                if checkpointing != theirs["gradient_checkpointing"]:
                    continue
                if ours["layout"] == theirs["layout"] and ours["reference"] == theirs["reference"]:
                    label = f"{ours['layout']}, checkpointing {checkpointing}"
                    out.append(pair("equal settings", trainer, label, ours_key, trl_key, ok))
                elif ours["variant"] == theirs["variant"] == "default":  # what each side does unless told
                    out.append(pair("default layouts", trainer, f"checkpointing {checkpointing}", ours_key, trl_key,
                                    ok))
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


def add_mfu(cells_: dict[str, dict], rows: list[dict], model: str, peak: float) -> dict[str, float]:
    """Each SFT and DPO cell's MFU (in place); returns the model FLOPs per token of each trainer.
    GRPO's sampled tokens are no model FLOPs of the update, so its cells get none."""
    trainers = {c["trainer"] for c in cells_.values() if "error" not in c} & {"sft", "dpo"}
    per_token = {trainer: model_flops_per_token(rows, trainer, model) for trainer in sorted(trainers)}
    for c in cells_.values():
        if c["trainer"] in per_token and "error" not in c:
            c["mfu"] = round(per_token[c["trainer"]] * c["tokens_per_s"] / peak, 4)
    return {trainer: round(flops) for trainer, flops in per_token.items()}


def model_flops_per_token(rows: list[dict], trainer: str, model: str) -> float:
    """Mean model FLOPs per trained token over the benchmark's sequences (trainers/flops.py)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from curation.models import resolve_model
    from trainers.collate import encode_preference
    from trainers.flops import ModelFlops

    path = resolve_model(model)
    with torch.device("meta"):
        flops = ModelFlops.of(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path)))
    if trainer == "sft":
        lengths = sft_lengths(rows, model)
    else:  # DPO: both sides, each with its prompt (a file's prompt is the whole user turn, as TRL gets it)
        tokenizer = _tokenizer(model)
        pairs = [encode_preference(tokenizer, [{"role": "user", "content": r["prompt"]}], r["chosen"], r["rejected"],
                                   max_length=4096) for r in rows]
        lengths = [len(p["prompt_ids"]) + len(p[side]) for p in pairs for side in ("chosen_ids", "rejected_ids")]
    return flops.batch_flops(sum(lengths), sum(n * n for n in lengths)) / sum(lengths)


def key_value(item: str) -> tuple[str, object]:
    key, sep, value = item.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {item!r}")
    return key, yaml.safe_load(value)


def job_names(text: str) -> list[str]:
    names = text.split(",")
    for name in names:
        try:
            parse_job(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def trainer_names(text: str) -> list[str]:
    names = text.split(",")
    if not set(names) <= set(TRAINERS):
        raise argparse.ArgumentTypeError(f"trainers are {', '.join(TRAINERS)}; got {text!r}")
    return names


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainers", type=trainer_names, default=["sft", "dpo"])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per job (the first is not timed)")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per step (GRPO: completions per step)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per job (0: torch default)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds over all cells; medians are reported")
    parser.add_argument("--gradient-checkpointing", choices=["off", "on", "both"], default="both")
    parser.add_argument("--variants", type=job_names, help="only these jobs (their trainers), e.g. trl-sft-packing")
    parser.add_argument("--no-padded", action="store_true", help="skip warmstart's padded jobs")
    parser.add_argument("--warmstart-only", action="store_true", help="skip the TRL jobs (e.g. to time --compile)")
    parser.add_argument("--weights", choices=["fp32", "bf16"], default="fp32", help="weight dtype on both sides")
    parser.add_argument("--compile", action="store_true", help="warmstart compiles its decoder layers")
    parser.add_argument("--generations", type=int, default=4, help="GRPO: samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="GRPO: completion length")
    parser.add_argument("--ours-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--trl-set", action="append", default=[], type=key_value, metavar="KEY=VALUE")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variants:
        args.trainers = list(dict.fromkeys(parse_job(name)[1] for name in args.variants))
    if "grpo" in args.trainers and (args.batch_size < args.generations or args.batch_size % args.generations):
        parser.error(f"GRPO: --batch-size {args.batch_size} (completions per step) must be a multiple of "
                     f"--generations {args.generations}")
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
    print(json.dumps(result_line(args, rows, results, load_start)))


def result_line(args, rows: list[dict], results: dict[str, dict], load_start) -> dict:
    """The benchmark's JSON line (benchmarks/run_all.py and gpu_report.py read it)."""
    from trainers.flops import peak_flops

    import torch

    peak = peak_flops(torch.device("cuda")) if args.device == "cuda" else None
    flops = add_mfu(results, rows, args.model, peak) if peak else {}
    lengths = sft_lengths(rows, args.model)
    grpo = {"generations": args.generations, "max_new_tokens": args.max_new_tokens} if "grpo" in args.trainers else {}
    return {"benchmark": "training", "model": args.model, "device": args.device,
            "device_name": device_name(args.device), "threads": args.threads or None, "steps": args.steps, "batch_size": args.batch_size,
            "max_length": args.max_length, "examples": len(rows), "repeats": args.repeats,
            "weights": args.weights, "compile": args.compile, **grpo,
            "versions": versions(*PEER_DISTRIBUTIONS), "ours_set": args.ours_set, "trl_set": dict(args.trl_set),
            "default_checkpointing": DEFAULT_CHECKPOINTING,
            "sft_tokens_min_mean_max": [min(lengths), round(sum(lengths) / len(lengths)), max(lengths)],
            "peak_bf16_flops": peak, "model_flops_per_token": flops,
            "cells": results, "comparisons": comparisons(results, args.trainers),
            "load_avg_start_end": [load_start, load_average()]}


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def _tokenizer(model: str):
    from curation.models import resolve_model
    from trainers.run import load_tokenizer

    return load_tokenizer(resolve_model(model))


def sft_lengths(rows: list[dict], model: str) -> list[int]:
    """Chat-templated token counts of the SFT rows (the spread that padding wastes)."""
    from trainers.collate import encode_chat

    tokenizer = _tokenizer(model)
    return [len(encode_chat(tokenizer, r["messages"], max_length=4096).input_ids) for r in rows]


if __name__ == "__main__":
    main()
