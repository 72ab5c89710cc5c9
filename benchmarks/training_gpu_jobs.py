"""The jobs of benchmarks/training.py: one (framework, trainer) run each, in its own process.

Both frameworks get the same model, data, batch, steps, learning rate, schedule, max_length,
gradient checkpointing (on or off), weight dtype (fp32 weights with bf16 autocast on CUDA, or
bf16 weights) and, for GRPO, group size and completion length. TRL keeps its other defaults
(padded batches; DPO runs the reference model each step; GRPO samples with transformers).
The first step is not timed; warmstart's DPO is charged its up-front reference pass pro rata.
"""

import json
import random
import resource
import tempfile
import time
from pathlib import Path

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
                     "rejected": f"{a} + {b} is about {wrong}. Answer: {wrong}", "answer": str(a + b),
                     "verifier": "exact", "metadata": "{}"})
    return rows


COLUMNS = {"sft": ["messages"], "dpo": ["prompt", "chosen", "rejected"],
           "grpo": ["prompt", "answer", "verifier", "metadata"]}


def write_data(rows: list[dict], work: Path) -> None:
    for trainer, columns in COLUMNS.items():
        (work / f"{trainer}.jsonl").write_text("\n".join(json.dumps({c: r[c] for c in columns}) for r in rows))


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
    from trainers.placement import fit_to_memory, place_model
    from trainers.run import prepare_run, seed_everything

    own = {"sft": {"assistant_only_loss": False, "packing": packing}, "dpo": {"beta": 0.1, "packing": packing},
           "grpo": {"num_generations": args.generations, "max_new_tokens": args.max_new_tokens, "beta": 0.0,
                    "filter_zero_variance": False, "rollout_backend": "transformers"}}[trainer]
    cfg = load_config(trainer, None, {
        "data": str(data / f"{trainer}.jsonl"), "model": args.model, "out": tempfile.mkdtemp(), "max_steps": args.steps,
        "batch_size": args.batch_size if trainer != "grpo" else args.batch_size // args.generations,
        "learning_rate": 1e-5, "lr_schedule": "cosine", "max_length": args.max_length, "device": args.device,
        "bf16": args.device == "cuda", "seed": 0, "progress": False, "weights": args.weights,
        "gradient_checkpointing": args.gradient_checkpointing == "on", "compile": args.compile, **own})
    prepared = prepare_run(trainer, cfg, run_id="bench")
    seed_everything(0)
    placed = place_model(prepared.model_path, cfg, prepared.device, prepared.bf16, prepared.recipe)
    baseline = rss_mb()
    tic = time.perf_counter()
    prepared.recipe.setup(placed.model, placed.device, prepared.bf16, model_path=prepared.model_path)
    setup_s = time.perf_counter() - tic
    placed.memory = fit_to_memory(placed, cfg, prepared.bf16, prepared.recipe)
    marks = []
    fit(placed.model, prepared.tokenizer, prepared.recipe, cfg, device=placed.device, bf16=prepared.bf16,
        out_dir=prepared.out_dir, meta={}, memory=placed.memory,
        on_metrics=lambda step, m: marks.append((time.perf_counter(), m)))
    # the reference pass charged pro rata for the timed steps (one epoch = all steps)
    seconds = marks[-1][0] - marks[0][0] + setup_s * (len(marks) - 1) / len(marks)
    timed = [m for _, m in marks[1:]]
    tokens = sum(m["tokens"] for m in timed)
    phases = {k: round(sum(m[k] for m in timed), 3) for k in ("time/rollout", "time/update") if k in timed[0]}
    return {"tokens_per_s": tokens / seconds, "tokens": tokens, "seconds": seconds, "setup_s": setup_s,
            "memory_plan": placed.memory.summary(), **phases, **memory_report(prepared.device.type, baseline)}


def trl_config(trainer: str, args, common: dict):
    import torch
    import trl

    common = {**common, "gradient_checkpointing": args.gradient_checkpointing == "on",
              "model_init_kwargs": {"dtype": torch.bfloat16 if args.weights == "bf16" else torch.float32}}
    if trainer == "sft":
        return trl.SFTConfig(**common)
    if trainer == "dpo":
        return trl.DPOConfig(beta=0.1, **common)
    common.pop("max_length")  # GRPO bounds the completion only
    return trl.GRPOConfig(num_generations=args.generations, max_completion_length=args.max_new_tokens, beta=0.0,
                          loss_type="dapo", **common)


def trl_dataset(trainer: str, rows: list[dict]):
    from datasets import Dataset

    if trainer == "sft":
        return Dataset.from_list([{"messages": r["messages"]} for r in rows])
    if trainer == "dpo":
        return Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                                   "chosen": [{"role": "assistant", "content": r["chosen"]}],
                                   "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows])
    return Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}], "answer": r["answer"]}
                              for r in rows])


def exact_reward(completions, answer, **kwargs) -> list[float]:
    """TRL's side of the `exact` verifier warmstart's GRPO uses here."""
    return [float(c[-1]["content"].strip().endswith(a)) for c, a in zip(completions, answer)]


def run_trl(trainer: str, args, data: Path) -> dict:
    import torch
    import trl
    from transformers import AutoTokenizer, TrainerCallback

    from curation.models import resolve_model

    rows = [json.loads(line) for line in (data / f"{trainer}.jsonl").read_text().splitlines()]
    model_path = str(resolve_model(args.model))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    common = dict(output_dir=tempfile.mkdtemp(), report_to=[], save_strategy="no", max_steps=args.steps,
                  per_device_train_batch_size=args.batch_size, learning_rate=1e-5, lr_scheduler_type="cosine",
                  max_length=args.max_length, seed=0, bf16=args.device == "cuda", use_cpu=args.device == "cpu",
                  logging_steps=1, disable_tqdm=True, dataloader_num_workers=0)
    config, dataset = trl_config(trainer, args, common), trl_dataset(trainer, rows)
    kinds = {"sft": trl.SFTTrainer, "dpo": trl.DPOTrainer, "grpo": trl.GRPOTrainer}
    extra = {"reward_funcs": [exact_reward]} if trainer == "grpo" else {}
    trainer_obj = kinds[trainer](model=model_path, args=config, train_dataset=dataset, processing_class=tokenizer,
                                 **extra)
    marks, seen = [], {"tokens": 0.0}

    class Marks(TrainerCallback):
        def on_log(self, _args, _state, _control, logs=None, **kwargs):
            seen["tokens"] = float((logs or {}).get("num_tokens", seen["tokens"]))

        def on_step_end(self, *_, **__):
            counted = getattr(trainer_obj, "_total_train_tokens", None)
            marks.append((time.perf_counter(), counted if counted is not None else seen["tokens"]))

    trainer_obj.add_callback(Marks())
    baseline = rss_mb()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer_obj.train()
    seconds = marks[-1][0] - marks[0][0]
    tokens = (seen["tokens"] if trainer == "grpo" else marks[-1][1]) - (marks[0][1] if trainer != "grpo" else 0)
    if trainer == "grpo":  # num_tokens is cumulative over all steps: charge the timed share
        tokens *= (len(marks) - 1) / len(marks)
    return {"tokens_per_s": tokens / seconds, "tokens": tokens, "seconds": seconds,
            **memory_report(args.device, baseline)}
