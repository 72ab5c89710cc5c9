"""Trainer configs: the options every trainer shares (each trainer's own config subclasses
TrainConfig in its recipe module), read from YAML, then overridden by values and `--set` items.

    cfg = load_config("sft", "configs/train_sft.yaml", {"max_steps": 20}, ["lora.r=8"])
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from schemas.config import StrictModel, apply_overrides, read_yaml, validate_model
from schemas.errors import ConfigError
from trainers.registry import trainer_spec


class LoraOptions(StrictModel):
    """Low-rank adapters (needs the `lora` extra: peft); the saved checkpoint is merged."""

    r: int = Field(16, ge=1, le=1024, description="adapter rank")
    alpha: int = Field(32, ge=1, description="scaling numerator (lora_alpha)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the adapter input")
    target_modules: list[str] | str = Field("all-linear", description="module names or 'all-linear'")


class TrainConfig(StrictModel):
    """Options every trainer shares: data, model, device, optimisation, evaluation, saving."""

    split: str | None = Field(None, description="lake split to train on (see `warmstart splits`)")
    version: int | None = Field(None, ge=0, description="split version; latest when unset")
    data: str | None = Field(None, description="exported Parquet/JSONL file or directory instead of a lake split")
    eval_split: str | None = Field(None, description="lake split (same kind) to evaluate on")
    eval_version: int | None = Field(None, ge=0, description="eval split version; latest when unset")
    eval_interval: int = Field(0, ge=0, description="evaluate every N steps (0: only at the end)")
    eval_max_examples: int = Field(64, ge=1, description="evaluate on at most this many rows")
    model: str = Field("smollm2-135m-instruct", description="prepared model name or a directory")
    out: str | None = Field(None, description="checkpoint directory; default checkpoints/<trainer>-<run_id>")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto picks cuda when available")
    bf16: bool | None = Field(None, description="bf16 autocast; unset: on for CUDA with bf16 support")
    learning_rate: float = Field(2e-5, gt=0, le=1, description="peak AdamW learning rate")
    lr_schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="decay after warm-up")
    warmup_steps: int = Field(0, ge=0, description="linear warm-up updates")
    warmup_ratio: float = Field(0.0, ge=0, le=1, description="warm-up as a share of all updates (max of both)")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="floor of the decay, as a share of the peak")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decoupled weight decay (matrices only)")
    adam_betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas")
    max_grad_norm: float = Field(1.0, ge=0, description="clip the gradient norm (0: no clipping)")
    batch_size: int = Field(8, ge=1, le=65536, description="rows per micro-batch")
    grad_accum: int = Field(1, ge=1, le=4096, description="micro-batches per optimizer step")
    max_length: int = Field(1024, ge=8, description="tokens per sequence; longer ones are truncated")
    pack_length: int = Field(256, ge=0, description="bin-pack micro-batches into rows of about this many "
                             "tokens; short rows keep the masked attention cheap where no varlen kernel "
                             "exists (0: one row, chosen automatically with flash-attention)")
    epochs: int = Field(1, ge=1, description="passes over the split (when max_steps is unset)")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps")
    seed: int = Field(42, description="seed for data order, initialisation of adapters and sampling")
    gradient_checkpointing: bool | None = Field(
        None, description="recompute activations to save memory; unset: on when the batch would not fit "
        "the device (CUDA), off on CPU")
    max_tokens_per_batch: int | None = Field(
        None, ge=1, description="split micro-batches so none holds more tokens (same loss and gradient); "
        "unset: no split on CPU, chosen to fit on CUDA")
    weights: Literal["fp32", "bf16"] = Field(
        "fp32", description="weight and gradient dtype; bf16 keeps fp32 AdamW moments and rounds each "
        "update stochastically into the bf16 weights")
    optimizer: Literal["adamw", "adamw_fused", "adamw_8bit"] = Field(
        "adamw_fused", description="AdamW (foreach), its fused kernel, or bitsandbytes' 8-bit AdamW")
    compile: bool = Field(False, description="torch.compile each decoder layer (pays on GPU after warm-up)")
    gpus: int = Field(1, ge=1, le=1024, description="devices to train on: N processes under torchrun (FSDP2 "
                      "for SFT/DPO, data parallel for GRPO); with device cpu, N gloo processes")
    lora: LoraOptions | None = Field(None, description="train LoRA adapters instead of all weights")
    save_interval: int = Field(0, ge=0, description="save a resumable checkpoint every N steps (0: only at the end)")
    save_total_limit: int = Field(2, ge=1, description="keep this many intermediate checkpoints")
    save_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="dtype of the final model's weights, declared in its config.json; auto: the dtype "
        "they are trained in (float32 master weights: rounding to bfloat16 erases small updates). "
        "Resumable checkpoints always keep the training dtype")
    log_interval: int = Field(1, ge=1, description="record metrics every N steps")
    resume: bool = Field(False, description="continue from the last checkpoint in `out`")
    progress: bool = Field(True, description="show a progress bar")

    @model_validator(mode="after")
    def _one_source(self):
        if self.split and self.data:
            raise ValueError("give either split or data, not both")
        return self


def load_config(trainer: str, path: str | Path | None = None, values: dict | None = None,
                overrides: list[str] | None = None) -> TrainConfig:
    """The trainer's config: YAML `path` (optional), then `values` (None skipped; a mapping merges
    into the YAML's mapping), then dotted `key.path=value` overrides (as `--set`)."""
    config_class = trainer_spec(trainer).config_class()
    raw = read_yaml(path) if path else {}
    named = raw.pop("trainer", trainer)
    if named != trainer:
        raise ConfigError(f"{path}: config is for trainer '{named}', not '{trainer}'")
    for key, value in (values or {}).items():
        if value is not None:
            raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    apply_overrides(raw, overrides or [])
    return validate_model(config_class, raw, path or "options")
