"""warmstart trainers vs TRL's SFTTrainer, DPOTrainer and GRPOTrainer at equal settings: tokens/s,
peak memory and MFU, side by side. Prints one JSON line. The GPU check's trainer benchmark
(benchmarks/gpu_check.py: fp32/bf16 weights, GRPO, MFU, --compile); the CPU peer matrix behind the
README table is benchmarks/training.py.

Same model, same data (short warm-up conversations of varied length), same hyper-parameters, and
the settings that decide memory set alike on both sides: `--gradient-checkpointing on|off` (TRL's
own default is on) and `--weights fp32|bf16` (fp32 weights run under bf16 autocast on CUDA; TRL
otherwise loads the checkpoint's dtype). Loss on every token for SFT (TRL cannot mask assistant
turns with this chat template). An extra SFT job runs warmstart with packing off, to show how much
of the gain is packing. Each job runs in its own process, so its peak memory is its own (CPU peak
RSS is noisy by a few hundred MB). MFU = model FLOPs per second / the device's dense bf16 peak,
model FLOPs per token from trainers/flops.py over the benchmark's sequences (docs: "GPU figures").

Usage: python benchmarks/training.py [--steps 6] [--batch-size 8] [--device auto] [--threads N]
         [--trainers sft,dpo,grpo] [--gradient-checkpointing off|on] [--weights fp32|bf16] [--compile]
         [--model NAME_OR_DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from training_gpu_jobs import run_trl, run_warmstart, warmup_rows, write_data  # noqa: E402

PASSED = ("steps", "batch_size", "max_length", "device", "model", "threads", "gradient_checkpointing", "weights",
          "generations", "max_new_tokens")


def job(name: str, args) -> dict:
    """Run one (framework, trainer) job in a child process; its stdout carries one JSON line."""
    cmd = [sys.executable, __file__, "--job", name, "--data", str(args.data)]
    for key in PASSED:
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    cmd += ["--compile"] if args.compile else []
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1][:300] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def model_flops_per_token(rows: list[dict], trainer: str, model: str) -> float:
    """Mean model FLOPs per trained token over the benchmark's sequences (trainers/flops.py)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from curation.models import resolve_model
    from trainers.collate import encode_chat, encode_preference
    from trainers.flops import ModelFlops
    from trainers.run import load_tokenizer

    path = resolve_model(model)
    with torch.device("meta"):
        flops = ModelFlops.of(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path)))
    tokenizer = load_tokenizer(path)
    if trainer == "sft":
        lengths = [len(encode_chat(tokenizer, r["messages"], max_length=4096).input_ids) for r in rows]
    else:  # DPO: both sides with their prompt; GRPO: prompt + about as long a completion (an estimate)
        pairs = [encode_preference(tokenizer, r["prompt"], r["chosen"], r["rejected"], max_length=4096) for r in rows]
        lengths = [len(p["prompt_ids"]) + len(p[side]) for p in pairs for side in ("chosen_ids", "rejected_ids")]
    return flops.batch_flops(sum(lengths), sum(n * n for n in lengths)) / sum(lengths)


def compare(results: dict, rows: list[dict], args) -> dict:
    """The JSON line: per-trainer rates, memory, ratios and MFU."""
    from trainers.flops import peak_flops

    import torch

    peak = peak_flops(torch.device("cuda")) if args.device == "cuda" else None
    out = {"benchmark": "training", "model": args.model, "device": args.device, "threads": args.threads or None,
           "steps": args.steps, "batch_size": args.batch_size, "examples": len(rows), "max_length": args.max_length,
           "gradient_checkpointing": args.gradient_checkpointing, "weights": args.weights, "compile": args.compile,
           "device_name": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu", "jobs": results}
    for trainer in args.trainers:
        ours, theirs = results[f"warmstart-{trainer}"], results.get(f"trl-{trainer}", {"error": "not run"})
        if peak and trainer != "grpo" and "error" not in ours:
            per_token = model_flops_per_token(rows, trainer, args.model)
            out[f"{trainer}_model_flops_per_token"] = round(per_token)
            out[f"{trainer}_warmstart_mfu"] = round(per_token * ours["tokens_per_s"] / peak, 4)
            if "error" not in theirs:
                out[f"{trainer}_trl_mfu"] = round(per_token * theirs["tokens_per_s"] / peak, 4)
        if "error" in ours or "error" in theirs:
            continue
        out[f"{trainer}_warmstart_tokens_per_s"] = round(ours["tokens_per_s"], 1)
        out[f"{trainer}_trl_tokens_per_s"] = round(theirs["tokens_per_s"], 1)
        out[f"{trainer}_speedup"] = round(ours["tokens_per_s"] / theirs["tokens_per_s"], 3)
        for key in ("peak_mem_mb", "train_mem_mb"):
            if key in ours:
                out[f"{trainer}_warmstart_{key}"] = round(ours[key])
                out[f"{trainer}_trl_{key}"] = round(theirs[key])
    out["peak_bf16_flops"] = peak
    if "warmstart-sft-padded" in results and "error" not in results["warmstart-sft-padded"] \
            and "sft_warmstart_tokens_per_s" in out:
        padded = results["warmstart-sft-padded"]["tokens_per_s"]
        out["sft_warmstart_padded_tokens_per_s"] = round(padded, 1)
        out["sft_packing_gain"] = round(results["warmstart-sft"]["tokens_per_s"] / padded, 3)
    return out


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per job (the first is not timed)")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per step (GRPO: completions per step)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per job (0: torch default)")
    parser.add_argument("--trainers", type=lambda s: s.split(","), default=["sft", "dpo"])
    parser.add_argument("--gradient-checkpointing", choices=["off", "on"], default="off")
    parser.add_argument("--weights", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--compile", action="store_true", help="warmstart compiles its decoder layers")
    parser.add_argument("--no-padded", action="store_true", help="skip warmstart's padded SFT job")
    parser.add_argument("--warmstart-only", action="store_true", help="skip the TRL jobs (e.g. to time --compile)")
    parser.add_argument("--generations", type=int, default=4, help="GRPO: samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="GRPO: completion length")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
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
        framework, trainer, *variant = args.job.split("-")
        run = run_warmstart if framework == "warmstart" else run_trl
        options = {"packing": variant != ["padded"]} if framework == "warmstart" else {}
        print(json.dumps(run(trainer, args, args.data, **options)))
        return
    args.data = Path(tempfile.mkdtemp())
    rows = warmup_rows(args.steps * args.batch_size, seed=0)
    write_data(rows, args.data)
    frameworks = ("warmstart",) if args.warmstart_only else ("warmstart", "trl")
    names = [f"{framework}-{trainer}" for trainer in args.trainers for framework in frameworks]
    if "sft" in args.trainers and not args.no_padded:
        names.append("warmstart-sft-padded")
    results = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr)
        results[name] = job(name, args)
    out = compare(results, rows, args)
    if "sft" in args.trainers:
        lengths = sft_lengths(rows, args.model)
        out["sft_tokens_min_mean_max"] = [min(lengths), round(sum(lengths) / len(lengths)), max(lengths)]
    print(json.dumps(out))


def sft_lengths(rows: list[dict], model: str) -> list[int]:
    """Chat-templated token counts of the SFT rows (the spread that padding wastes)."""
    from curation.models import resolve_model
    from trainers.collate import encode_chat
    from trainers.run import load_tokenizer

    tokenizer = load_tokenizer(resolve_model(model))
    return [len(encode_chat(tokenizer, r["messages"], max_length=4096).input_ids) for r in rows]


if __name__ == "__main__":
    main()
