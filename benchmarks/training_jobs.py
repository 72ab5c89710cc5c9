"""The jobs of benchmarks/training.py: one (framework, trainer, variant) run each, in its own process.

Every job gets the same model, data, batch, steps, learning rate, schedule, max_length, device,
bf16 autocast and attention implementation; `VARIANTS` declares what differs (the batch layout,
where the reference log-probs come from) and the job's `--gradient-checkpointing on|off` says the
rest. The first step is not timed; an up-front reference pass (warmstart's DPO always, TRL's with
precompute_ref_log_probs) is charged pro rata for the timed steps.
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

    options: dict  # warmstart: trainer config values; TRL: SFTConfig / DPOConfig keywords
    layout: str  # padding-free | padded | packed-blocks (TRL's packing: rows cut to max_length blocks)
    reference: str | None = None  # DPO: where the reference log-probs come from (precomputed | each step)


# (framework, trainer) -> variant name ("" is the framework's default) -> Variant. TRL 1.16 docs
# ("Reducing memory usage", SFTConfig / DPOConfig): packing="bfd" implies padding-free; SFT's
# padding_free without packing needs max_length=None; DPO's padding_free is disabled in 1.16 (it
# warns and pads), so it is no variant; precompute_ref_log_probs drops the reference model.
VARIANTS = {
    ("warmstart", "sft"): {"": Variant({"packing": True}, "padding-free"), "padded": Variant({"packing": False}, "padded")},
    ("warmstart", "dpo"): {"": Variant({"packing": True}, "padding-free", "precomputed"),
                           "padded": Variant({"packing": False}, "padded", "precomputed")},
    ("trl", "sft"): {"": Variant({}, "padded"),
                     "padding_free": Variant({"padding_free": True, "max_length": None}, "padding-free"),
                     "packing": Variant({"packing": True}, "packed-blocks")},
    ("trl", "dpo"): {"": Variant({}, "padded", "each step"),
                     "precompute": Variant({"precompute_ref_log_probs": True}, "padded", "precomputed")},
}
DEFAULT_CHECKPOINTING = {"warmstart": "off", "trl": "on"}  # TRL's SFTConfig / DPOConfig turn it on


def job_name(framework: str, trainer: str, variant: str) -> str:
    return "-".join(part for part in (framework, trainer, variant) if part)


def parse_job(name: str) -> tuple[str, str, str]:
    framework, trainer, *variant = name.split("-", 2)
    return framework, trainer, variant[0] if variant else ""


def describe(framework: str, trainer: str, variant: str, checkpointing: str) -> dict:
    """A job's settings in words and as passed, for results.json and the tables."""
    spec = VARIANTS[(framework, trainer)][variant]
    return {"framework": framework, "trainer": trainer, "variant": variant or "default", "layout": spec.layout,
            "reference": spec.reference, "gradient_checkpointing": checkpointing,
            "is_default": not variant and checkpointing == DEFAULT_CHECKPOINTING[framework],
            "options": {**spec.options, "gradient_checkpointing": checkpointing == "on"}}


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


COLUMNS = {"sft": ["messages"], "dpo": ["prompt", "chosen", "rejected"]}


def write_data(rows: list[dict], work: Path) -> None:
    for trainer, columns in COLUMNS.items():
        (work / f"{trainer}.jsonl").write_text("\n".join(json.dumps({c: r[c] for c in columns}) for r in rows))


def memory_report(device: str) -> dict:
    """Peak memory of this job's process: CUDA allocations, or peak RSS on CPU (noisy by ~100 MB)."""
    import torch

    if device == "cuda":
        return {"peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20}
    return {"peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def timed_rate(marks: list[tuple[float, float]], upfront_s: float) -> dict:
    """Tokens/s over the steps after the first, charging the up-front pass pro rata (one epoch = all steps)."""
    seconds = marks[-1][0] - marks[0][0] + upfront_s * (len(marks) - 1) / len(marks)
    tokens = marks[-1][1] - marks[0][1]
    return {"tokens_per_s": tokens / seconds, "tokens": tokens, "seconds": seconds, "upfront_s": upfront_s,
            "tokens_per_step": tokens / (len(marks) - 1)}


def shared_options(args) -> dict:
    """The settings both frameworks share, in warmstart's names."""
    return {"max_steps": args.steps, "batch_size": args.batch_size, "learning_rate": 1e-5, "lr_schedule": "cosine",
            "max_length": args.max_length, "seed": 0, "bf16": args.device == "cuda"}


def run_warmstart(trainer: str, args, data: Path, variant: str = "") -> dict:
    from trainers.config import load_config
    from trainers.fit import fit
    from trainers.run import load_model, prepare_run, seed_everything

    own = {"assistant_only_loss": False} if trainer == "sft" else {"beta": 0.1}
    cfg = load_config(trainer, None, {
        "data": str(data / f"{trainer}.jsonl"), "model": args.model, "out": tempfile.mkdtemp(), "device": args.device,
        "progress": False, **shared_options(args), **own, **VARIANTS[("warmstart", trainer)][variant].options,
        "gradient_checkpointing": args.gradient_checkpointing == "on"}, args.ours_set)
    prepared = prepare_run(trainer, cfg, run_id="bench")
    seed_everything(0)
    model = load_model(prepared.model_path, cfg, prepared.device, prepared.bf16)
    tic = time.perf_counter()
    prepared.recipe.setup(model, prepared.device, prepared.bf16, model_path=prepared.model_path)
    setup_s = time.perf_counter() - tic
    marks, total = [], [0.0]

    def mark(step, metrics):
        total[0] += metrics.get("tokens", 0.0)
        marks.append((time.perf_counter(), total[0]))

    fit(model, prepared.tokenizer, prepared.recipe, cfg, device=prepared.device, bf16=prepared.bf16,
        out_dir=prepared.out_dir, meta={}, on_metrics=mark)
    return {**timed_rate(marks, setup_s), **memory_report(prepared.device.type)}


def trl_config(trainer: str, args, variant: str):
    """SFTConfig / DPOConfig with the shared settings, the variant's options and any --trl-set items."""
    import torch
    import trl

    from trainers.run import uses_flash_attention

    shared = shared_options(args)
    attention = "flash_attention_2" if uses_flash_attention(torch.device(args.device), shared["bf16"]) else "sdpa"
    options = {"output_dir": tempfile.mkdtemp(), "report_to": [], "save_strategy": "no",
               "max_steps": shared["max_steps"], "per_device_train_batch_size": shared["batch_size"],
               "learning_rate": shared["learning_rate"], "lr_scheduler_type": shared["lr_schedule"],
               "max_length": shared["max_length"], "seed": shared["seed"], "bf16": shared["bf16"],
               "use_cpu": args.device == "cpu", "logging_steps": 1, "disable_tqdm": True, "dataloader_num_workers": 0,
               "model_init_kwargs": {"dtype": torch.float32, "attn_implementation": attention},
               "gradient_checkpointing": args.gradient_checkpointing == "on",
               **VARIANTS[("trl", trainer)][variant].options, **dict(args.trl_set)}
    return trl.SFTConfig(**options) if trainer == "sft" else trl.DPOConfig(beta=0.1, **options)


def trl_dataset(trainer: str, rows: list[dict]):
    from datasets import Dataset

    if trainer == "sft":
        return Dataset.from_list([{"messages": r["messages"]} for r in rows])
    return Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                               "chosen": [{"role": "assistant", "content": r["chosen"]}],
                               "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows])


def run_trl(trainer: str, args, data: Path, variant: str = "") -> dict:
    import datasets
    import trl
    from transformers import AutoTokenizer, TrainerCallback

    from curation.models import resolve_model

    datasets.disable_caching()  # a precomputed reference pass must not come from an earlier job's cache
    rows = [json.loads(line) for line in (data / f"{trainer}.jsonl").read_text().splitlines()]
    model_path = str(resolve_model(args.model))
    kind = trl.SFTTrainer if trainer == "sft" else trl.DPOTrainer
    upfront = _time_reference_pass(kind)
    trainer_obj = kind(model=model_path, args=trl_config(trainer, args, variant), train_dataset=trl_dataset(trainer, rows),
                       processing_class=AutoTokenizer.from_pretrained(model_path))
    marks = []

    class Marks(TrainerCallback):
        def on_step_end(self, *_, **__):
            marks.append((time.perf_counter(), trainer_obj._total_train_tokens))

    trainer_obj.add_callback(Marks())
    trainer_obj.train()
    return {**timed_rate(marks, upfront[0]), **memory_report(args.device)}


def _time_reference_pass(kind) -> list[float]:
    """Seconds TRL spends in `_precompute_ref_logps` (in the DPOTrainer constructor), to charge like ours."""
    spent = [0.0]
    original = getattr(kind, "_precompute_ref_logps", None)
    if original is None:
        return spent

    def timed(self, *args, **kwargs):
        tic = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - tic

    kind._precompute_ref_logps = timed
    return spent
