"""The TRL side of benchmarks/training.py: SFTTrainer, DPOTrainer and GRPOTrainer given the settings
warmstart's job gets (training_jobs.shared_options), the variant's options and any --trl-set items.
TRL keeps its other defaults (DPO runs the reference model each step unless precomputed; GRPO
samples with transformers generate). One job per process, as warmstart's.
"""

import tempfile
import time
from pathlib import Path

from training_jobs import VARIANTS, memory_report, read_rows, rss_mb, shared_options, timed_rate

TRAINER_CLASSES = {"sft": "SFTTrainer", "dpo": "DPOTrainer", "grpo": "GRPOTrainer"}


def trl_config(trainer: str, args, variant: str):
    """SFTConfig / DPOConfig / GRPOConfig with the shared settings, the variant's and --trl-set's options."""
    import torch
    import trl

    from trainers.placement import WEIGHT_DTYPES, uses_flash_attention

    shared = shared_options(args)
    attention = "flash_attention_2" if uses_flash_attention(torch.device(args.device), shared["bf16"]) else "sdpa"
    options = {"output_dir": tempfile.mkdtemp(), "report_to": [], "save_strategy": "no",
               "max_steps": shared["max_steps"], "per_device_train_batch_size": shared["batch_size"],
               "learning_rate": shared["learning_rate"], "lr_scheduler_type": shared["lr_schedule"],
               "max_length": shared["max_length"], "seed": shared["seed"], "bf16": shared["bf16"],
               "use_cpu": args.device == "cpu", "logging_steps": 1, "disable_tqdm": True, "dataloader_num_workers": 0,
               "model_init_kwargs": {"dtype": WEIGHT_DTYPES[args.weights], "attn_implementation": attention},
               "gradient_checkpointing": args.gradient_checkpointing == "on",
               **VARIANTS[("trl", trainer)][variant].options, **dict(args.trl_set)}
    if trainer == "sft":
        return trl.SFTConfig(**options)
    if trainer == "dpo":
        return trl.DPOConfig(beta=0.1, **options)
    options.pop("max_length")  # GRPO bounds the completion only
    return trl.GRPOConfig(num_generations=args.generations, max_completion_length=args.max_new_tokens, beta=0.0,
                          loss_type="dapo", **options)


def trl_dataset(trainer: str, rows: list[dict]):
    """The rows in TRL's conversational layouts."""
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


def run_trl(trainer: str, args, data: Path, variant: str = "") -> dict:
    """One TRL job: tokens/s over the steps after the first, and memory."""
    import datasets
    import trl
    from transformers import AutoTokenizer, TrainerCallback

    from curation.models import resolve_model

    datasets.disable_caching()  # a precomputed reference pass must not come from an earlier job's cache
    model_path = str(resolve_model(args.model))
    kind = getattr(trl, TRAINER_CLASSES[trainer])
    upfront = _time_reference_pass(kind)
    extra = {"reward_funcs": [exact_reward]} if trainer == "grpo" else {}
    trainer_obj = kind(model=model_path, args=trl_config(trainer, args, variant),
                       train_dataset=trl_dataset(trainer, read_rows(data, trainer)),
                       processing_class=AutoTokenizer.from_pretrained(model_path), **extra)
    step_ends, counted, logged = [], [], []

    class Marks(TrainerCallback):
        def on_step_end(self, *_, **__):
            step_ends.append(time.perf_counter())
            if trainer != "grpo":
                counted.append(trainer_obj._total_train_tokens)

        def on_log(self, _args, _state, _control, logs=None, **kwargs):
            if "num_tokens" in (logs or {}):  # GRPOTrainer counts its tokens (cumulative) only in its logs
                logged.append(float(logs["num_tokens"]))

    trainer_obj.add_callback(Marks())
    baseline = rss_mb()
    trainer_obj.train()
    tokens = logged[-1] - logged[0] if trainer == "grpo" else counted[-1] - counted[0]
    return {**timed_rate(step_ends, tokens, upfront[0]), **memory_report(args.device, baseline)}


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
