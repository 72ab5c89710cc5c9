"""The jobs of benchmarks/training.py: one (framework, trainer, variant) run each, in its own process.

Every job gets the same model, data, batch, steps, learning rate, schedule, max_length, device,
bf16 autocast (CUDA), weight dtype (`--weights`), attention implementation and, for GRPO, group
size and completion length; `VARIANTS` declares what differs (the batch layout, where the
reference log-probs come from) and the job's `--gradient-checkpointing on|off` says the rest. The
first step is not timed; an up-front pass (warmstart's recipe setup: DPO's reference pass; TRL's
precompute_ref_log_probs) is charged pro rata for the timed steps. The TRL side: training_trl.py.
"""

import json
import random
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FILLER = ["First, read the numbers carefully.", "Then line up the digits.", "Carry where a column passes nine.",
          "Check the result by subtracting.", "Both checks agree.", "No step was skipped.",
          "Write the sum neatly.", "Double-check the last digit."]


@dataclass(frozen=True)
class Variant:
    """What one job sets on top of the shared settings, and what that means for the comparison."""

    options: dict  # warmstart: trainer config values; TRL: SFTConfig / DPOConfig / GRPOConfig keywords
    layout: str  # padding-free | padded | packed-blocks (TRL's packing: rows cut to max_length blocks)
    reference: str | None = None  # DPO: where the reference log-probs come from (precomputed | each step)


# (framework, trainer) -> variant name ("" is the framework's default) -> Variant. TRL 1.16 docs
# ("Reducing memory usage", SFTConfig / DPOConfig): packing="bfd" implies padding-free; SFT's
# padding_free without packing needs max_length=None; DPO's padding_free is disabled in 1.16 (it
# warns and pads), so it is no variant; precompute_ref_log_probs drops the reference model.
# GRPO (beta 0: no reference): warmstart packs its update batches, TRL pads them.
VARIANTS = {
    ("warmstart", "sft"): {"": Variant({"packing": True}, "padding-free"), "padded": Variant({"packing": False}, "padded")},
    ("warmstart", "dpo"): {"": Variant({"packing": True}, "padding-free", "precomputed"),
                           "padded": Variant({"packing": False}, "padded", "precomputed")},
    ("warmstart", "grpo"): {"": Variant({}, "padding-free")},
    ("trl", "sft"): {"": Variant({}, "padded"),
                     "padding_free": Variant({"padding_free": True, "max_length": None}, "padding-free"),
                     "packing": Variant({"packing": True}, "packed-blocks")},
    ("trl", "dpo"): {"": Variant({}, "padded", "each step"),
                     "precompute": Variant({"precompute_ref_log_probs": True}, "padded", "precomputed")},
    ("trl", "grpo"): {"": Variant({}, "padded")},
}
DEFAULT_CHECKPOINTING = {"warmstart": "off", "trl": "on"}  # TRL's SFT/DPO/GRPOConfig turn it on
TRAINERS = tuple(dict.fromkeys(trainer for _, trainer in VARIANTS))


def job_name(framework: str, trainer: str, variant: str) -> str:
    return "-".join(part for part in (framework, trainer, variant) if part)


def parse_job(name: str) -> tuple[str, str, str]:
    """(framework, trainer, variant) of a job name such as trl-sft-packing; ValueError when unknown."""
    framework, trainer, variant = (name.split("-", 2) + ["", ""])[:3]
    if variant not in VARIANTS.get((framework, trainer), {}):
        raise ValueError(f"unknown job {name!r}; jobs are framework-trainer[-variant] as in training_jobs.VARIANTS")
    return framework, trainer, variant


def describe(framework: str, trainer: str, variant: str, checkpointing: str) -> dict:
    """A job's settings in words and as passed, for results.json and the tables."""
    spec = VARIANTS[(framework, trainer)][variant]
    return {"framework": framework, "trainer": trainer, "variant": variant or "default", "layout": spec.layout,
            "reference": spec.reference, "gradient_checkpointing": checkpointing,
            "is_default": not variant and checkpointing == DEFAULT_CHECKPOINTING[framework],
            "options": {**spec.options, "gradient_checkpointing": checkpointing == "on"}}


def warmup_rows(n: int, seed: int) -> list[dict]:
    """Short arithmetic conversations whose reasoning runs from nothing to twenty sentences
    (about 65 to 250 tokens with the chat template), as warm-up SFT data does; each row also
    serves as a preference pair and an RL prompt with its answer."""
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
    """sft.jsonl, dpo.jsonl and grpo.jsonl of the rows in `work` (warmstart's exported layouts)."""
    for trainer, columns in COLUMNS.items():
        (work / f"{trainer}.jsonl").write_text("\n".join(json.dumps({c: r[c] for c in columns}) for r in rows))


def read_rows(data: Path, trainer: str) -> list[dict]:
    return [json.loads(line) for line in (data / f"{trainer}.jsonl").read_text().splitlines()]


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def memory_report(device: str, baseline_mb: float) -> dict:
    """Peak memory of this job's process: CUDA allocations, or peak RSS on CPU (noisy by ~100 MB) and
    what training added to it over `baseline_mb` (the RSS with the model loaded)."""
    import torch

    if device == "cuda":
        return {"peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mem_mb": peak, "train_mem_mb": peak - baseline_mb}


def timed_rate(times: list[float], tokens: float, upfront_s: float) -> dict:
    """Tokens/s over the steps after the first (`times`: the end of each step; `tokens`: those the
    steps after the first trained), charging the up-front pass pro rata (one epoch = all steps)."""
    seconds = times[-1] - times[0] + upfront_s * (len(times) - 1) / len(times)
    return {"tokens_per_s": tokens / seconds, "tokens": tokens, "seconds": seconds, "upfront_s": upfront_s,
            "tokens_per_step": tokens / (len(times) - 1)}


def shared_options(args) -> dict:
    """The settings both frameworks share, in warmstart's names."""
    return {"max_steps": args.steps, "batch_size": args.batch_size, "learning_rate": 1e-5, "lr_schedule": "cosine",
            "max_length": args.max_length, "seed": 0, "bf16": args.device == "cuda"}


def warmstart_options(trainer: str, args) -> dict:
    """warmstart's trainer-specific settings, matched to what TRL is given (training_trl.trl_config)."""
    if trainer == "sft":
        return {"assistant_only_loss": False}  # TRL cannot mask assistant turns with this chat template
    if trainer == "dpo":
        return {"beta": 0.1}
    return {"num_generations": args.generations, "max_new_tokens": args.max_new_tokens, "beta": 0.0,
            "filter_zero_variance": False, "rollout_backend": "transformers",
            "batch_size": args.batch_size // args.generations}  # prompts per step: batch_size completions


PHASES = ("time/rollout", "time/update")  # GRPO's metrics: sampling and scoring, then the update


def warmstart_config(trainer: str, args, data: Path, variant: str = ""):
    """The trainer config of a warmstart job: shared settings, its own, the variant's, then --ours-set."""
    from trainers.config import load_config

    return load_config(trainer, None, {
        "data": str(data / f"{trainer}.jsonl"), "model": args.model, "out": tempfile.mkdtemp(), "device": args.device,
        "progress": False, "weights": args.weights, "compile": args.compile, **shared_options(args),
        **warmstart_options(trainer, args), **VARIANTS[("warmstart", trainer)][variant].options,
        "gradient_checkpointing": args.gradient_checkpointing == "on"}, args.ours_set)


def run_warmstart(trainer: str, args, data: Path, variant: str = "") -> dict:
    """One warmstart job placed as `warmstart train` places it (weights, compile, memory plan)."""
    from trainers.fit import fit
    from trainers.placement import fit_to_memory, place_model
    from trainers.run import prepare_run, seed_everything

    cfg = warmstart_config(trainer, args, data, variant)
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
        on_metrics=lambda step, metrics: marks.append((time.perf_counter(), metrics)))
    timed = [metrics for _, metrics in marks[1:]]
    phases = {key: round(sum(m[key] for m in timed), 3) for key in PHASES if key in timed[0]}
    return {**timed_rate([t for t, _ in marks], sum(m["tokens"] for m in timed), setup_s), **phases,
            "memory_plan": placed.memory.summary(), **memory_report(placed.device.type, baseline)}

