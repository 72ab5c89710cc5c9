"""warmstart trainers vs TRL's SFTTrainer and DPOTrainer: tokens/s and peak memory, side by side.

Same model (the bundled SmolLM2-135M), same data (short warm-up conversations of varied length),
same hyper-parameters (batch, lr, schedule, max_length, steps, fp32 on CPU / bf16 on CUDA, loss on
every token for SFT since TRL cannot mask assistant turns with this chat template). TRL runs with
its defaults (padded batches; DPO with a reference model forward each step). A third SFT job runs
warmstart with packing off, to show how much of the gain is packing. Each job runs in its own
process so peak memory is its own (CPU peak RSS is noisy by a few hundred MB). The first step
(allocation, warm-up) is not timed; warmstart's DPO is charged its up-front reference pass.
Prints one JSON line.

Usage: python benchmarks/training.py [--steps 6] [--batch-size 8] [--device auto] [--threads N]
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FILLER = ["First, read the numbers carefully.", "Then line up the digits.", "Carry where a column passes nine.",
          "Check the result by subtracting.", "Both checks agree.", "No step was skipped.",
          "Write the sum neatly.", "Double-check the last digit."]


def warmup_rows(n: int, seed: int) -> list[dict]:
    """Short arithmetic conversations whose reasoning runs from nothing to twenty sentences
    (about 65 to 250 tokens with the chat template), as warm-up SFT data does."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        steps = " ".join(rng.choices(FILLER, k=rng.randint(0, 20)))
        wrong = a + b + rng.choice([-10, -1, 1, 10])
        rows.append({"messages": [{"role": "user", "content": f"What is {a} + {b}?"},
                                  {"role": "assistant", "content": f"{steps} {a} + {b} = {a + b}. Answer: {a + b}"}],
                     "prompt": f"What is {a} + {b}?", "chosen": f"{steps} Answer: {a + b}",
                     "rejected": f"{a} + {b} is about {wrong}. Answer: {wrong}"})
    return rows


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory_report(device: str, baseline_mb: float) -> dict:
    import torch

    if device == "cuda":
        return {"peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mem_mb": peak, "train_mem_mb": peak - baseline_mb}


def run_warmstart(trainer: str, args, data: Path, packing: bool = True) -> dict:
    from trainers.config import load_config
    from trainers.fit import fit
    from trainers.run import load_model, prepare_run, seed_everything

    cfg = load_config(trainer, None, {
        "data": str(data / f"{trainer}.jsonl"), "model": args.model, "out": tempfile.mkdtemp(), "max_steps": args.steps,
        "batch_size": args.batch_size, "learning_rate": 1e-5, "lr_schedule": "cosine", "max_length": args.max_length,
        "device": args.device, "bf16": args.device == "cuda", "seed": 0, "progress": False,
        "packing": packing, **({"assistant_only_loss": False} if trainer == "sft" else {"beta": 0.1})})
    prepared = prepare_run(trainer, cfg, run_id="bench")
    seed_everything(0)
    model = load_model(prepared.model_path, cfg, prepared.device, prepared.bf16)
    recipe = prepared.recipe
    baseline = rss_mb()
    tic = time.perf_counter()
    recipe.setup(model, prepared.device, prepared.bf16, model_path=prepared.model_path)
    setup_s = time.perf_counter() - tic
    marks = []
    fit(model, prepared.tokenizer, recipe, cfg, device=prepared.device, bf16=prepared.bf16,
        out_dir=prepared.out_dir, meta={},
        on_metrics=lambda step, m: marks.append((time.perf_counter(), m.get("tokens", 0.0))))
    # reference pass charged pro rata for the timed steps (one epoch = all steps)
    seconds = marks[-1][0] - marks[0][0] + setup_s * (len(marks) - 1) / len(marks)
    tokens = sum(t for _, t in marks[1:])
    return {"tokens_per_s": tokens / seconds, "tokens": tokens, "seconds": seconds, "setup_s": setup_s,
            **memory_report(prepared.device.type, baseline)}


def run_trl(trainer: str, args, data: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback

    import trl
    from curation.models import resolve_model

    rows = [json.loads(line) for line in (data / f"{trainer}.jsonl").read_text().splitlines()]
    model_path = str(resolve_model(args.model))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    common = dict(output_dir=tempfile.mkdtemp(), report_to=[], save_strategy="no", max_steps=args.steps,
                  per_device_train_batch_size=args.batch_size, learning_rate=1e-5, lr_scheduler_type="cosine",
                  max_length=args.max_length, seed=0, bf16=args.device == "cuda", use_cpu=args.device == "cpu",
                  logging_steps=1, disable_tqdm=True, dataloader_num_workers=0)
    if trainer == "sft":
        dataset = Dataset.from_list([{"messages": r["messages"]} for r in rows])
        trainer_obj = trl.SFTTrainer(model=model_path, args=trl.SFTConfig(**common), train_dataset=dataset,
                                     processing_class=tokenizer)
    else:
        dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                                      "chosen": [{"role": "assistant", "content": r["chosen"]}],
                                      "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows])
        trainer_obj = trl.DPOTrainer(model=model_path, args=trl.DPOConfig(beta=0.1, **common),
                                     train_dataset=dataset, processing_class=tokenizer)
    marks = []

    class Marks(TrainerCallback):
        def on_step_end(self, *_, **__):
            marks.append((time.perf_counter(), trainer_obj._total_train_tokens))

    trainer_obj.add_callback(Marks())
    baseline = rss_mb()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer_obj.train()
    seconds = marks[-1][0] - marks[0][0]
    tokens = marks[-1][1] - marks[0][1]
    return {"tokens_per_s": tokens / seconds, "tokens": tokens, "seconds": seconds,
            **memory_report(args.device, baseline)}


def job(name: str, args) -> dict:
    """Run one (framework, trainer) job in a child process; its stdout carries one JSON line."""
    cmd = [sys.executable, __file__, "--job", name, "--data", str(args.data), "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--device", args.device,
           "--model", args.model, "--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"job {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per job (the first is not timed)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per job (0: torch default)")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.job:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)  # on a shared CPU, one thread per job avoids oversubscription
        framework, trainer, *variant = args.job.split("-")
        if framework == "warmstart":
            print(json.dumps(run_warmstart(trainer, args, args.data, packing=variant != ["padded"])))
        else:
            print(json.dumps(run_trl(trainer, args, args.data)))
        return
    work = Path(tempfile.mkdtemp())
    rows = warmup_rows(args.steps * args.batch_size, seed=0)
    args.data = work
    for trainer, columns in (("sft", ["messages"]), ("dpo", ["prompt", "chosen", "rejected"])):
        lines = (json.dumps({c: r[c] for c in columns}) for r in rows)
        (work / f"{trainer}.jsonl").write_text("\n".join(lines))
    results = {}
    for name in ("warmstart-sft", "trl-sft", "warmstart-sft-padded", "warmstart-dpo", "trl-dpo"):
        print(f"running {name} ...", file=sys.stderr)
        results[name] = job(name, args)
    lengths = sft_lengths(rows, args.model)
    out = {"benchmark": "training", "model": args.model, "device": args.device, "threads": args.threads or None,
           "steps": args.steps, "batch_size": args.batch_size, "examples": len(rows),
           "sft_tokens_min_mean_max": [min(lengths), round(sum(lengths) / len(lengths)), max(lengths)]}
    for trainer in ("sft", "dpo"):
        ours, theirs = results[f"warmstart-{trainer}"], results[f"trl-{trainer}"]
        out[f"{trainer}_warmstart_tokens_per_s"] = round(ours["tokens_per_s"], 1)
        out[f"{trainer}_trl_tokens_per_s"] = round(theirs["tokens_per_s"], 1)
        out[f"{trainer}_speedup"] = round(ours["tokens_per_s"] / theirs["tokens_per_s"], 3)
        for key in ("peak_mem_mb", "train_mem_mb"):
            if key in ours:
                out[f"{trainer}_warmstart_{key}"] = round(ours[key])
                out[f"{trainer}_trl_{key}"] = round(theirs[key])
    # attribution: the same trainer with packing off (padded batches, like TRL's default)
    padded = results["warmstart-sft-padded"]["tokens_per_s"]
    out["sft_warmstart_padded_tokens_per_s"] = round(padded, 1)
    out["sft_packing_gain"] = round(results["warmstart-sft"]["tokens_per_s"] / padded, 3)
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
