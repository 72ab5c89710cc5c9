"""Train from a split: check everything first (`prepare_run`, writes nothing), then train and save
(`execute`). The result carries the lineage: which split version made which checkpoint.

    prepared = prepare_run("sft", cfg, lake=Lake("data/lake"))
    result = execute(prepared, run_id="3f2a9c0d1e2b")
"""

import importlib.util
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from curation.models import resolve_model
from schemas.errors import ConfigError, DeviceError, ModelError
from trainers.checkpoint import checkpoint_meta, list_checkpoints, save_final
from trainers.config import TrainConfig
from trainers.data import SplitData, load_split
from trainers.fit import MetricsCallback, fit
from trainers.recipe import Recipe
from trainers.registry import trainer_spec

CHECKPOINTS = Path("checkpoints")


@dataclass
class PreparedRun:
    """A checked run: data read, model and device resolved, output directory chosen."""

    trainer: str
    cfg: TrainConfig
    data: SplitData
    eval_data: SplitData | None
    model_path: Path
    device: torch.device
    bf16: bool
    tokenizer: object
    out_dir: Path
    lineage: dict = field(default_factory=dict)
    recipe: Recipe | None = None


@dataclass
class TrainResult:
    """A finished run: where the checkpoint is, how fast it went, its last metrics and lineage."""

    run_id: str
    checkpoint: Path
    steps: int
    seconds: float
    tokens_per_s: float
    metrics: dict
    lineage: dict
    model: object = None


def resolve_device(name: str) -> torch.device:
    """cpu, cuda (must exist) or auto (cuda when available)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device cuda: CUDA is not available here (torch {torch.__version__}); "
                          "use --device cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_bf16(wanted: bool | None, device: torch.device) -> bool:
    """bf16 autocast: as asked, else on for CUDA devices that support it."""
    if wanted is None:
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    if wanted and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("bf16 requested but this GPU does not support bfloat16")
    return wanted


def load_tokenizer(path: Path):
    """The model's tokenizer, with a pad token and a chat template (both required)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load tokenizer from {path}: {exc}") from None
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"tokenizer at {path} has no chat template; trainers render chats with it")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def uses_flash_attention(device: torch.device, bf16: bool) -> bool:
    """flash-attention 2 (varlen kernels for packed rows) when installed, on CUDA in bf16."""
    return device.type == "cuda" and bf16 and importlib.util.find_spec("flash_attn") is not None


def load_model(path: Path, cfg: TrainConfig, device: torch.device, bf16: bool):
    """The causal LM in float32 on `device`, with LoRA and gradient checkpointing as configured."""
    from transformers import AutoModelForCausalLM

    options = {"dtype": torch.float32}
    if uses_flash_attention(device, bf16):
        options["attn_implementation"] = "flash_attention_2"  # varlen kernels for packed rows
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **options)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model from {path}: {exc}") from None
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora is not None:
        model = _with_lora(model, cfg)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    return model.to(device)


def _with_lora(model, cfg: TrainConfig):
    if importlib.util.find_spec("peft") is None:
        raise ConfigError("lora needs peft: pip install 'warmstart[lora]'")
    from peft import LoraConfig, get_peft_model

    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    options = cfg.lora
    return get_peft_model(model, LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                                            target_modules=options.target_modules, task_type="CAUSAL_LM"))


def choose_out_dir(trainer: str, cfg: TrainConfig, run_id: str) -> Path:
    """cfg.out, or checkpoints/<trainer>-<run_id>; with resume, the newest run that has checkpoints."""
    if cfg.out:
        out = Path(cfg.out)
        if cfg.resume and not list_checkpoints(out):
            raise ConfigError(f"--resume: no checkpoint in {out} (runs save one every save_interval steps)")
        return out
    if not cfg.resume:
        return CHECKPOINTS / f"{trainer}-{run_id}"
    runs = [d for d in CHECKPOINTS.glob(f"{trainer}-*") if list_checkpoints(d)]
    if not runs:
        raise ConfigError(f"--resume: no checkpoint under {CHECKPOINTS}/{trainer}-*; pass --out DIR")
    return max(runs, key=lambda d: list_checkpoints(d)[-1].stat().st_mtime)


def prepare_run(trainer: str, cfg: TrainConfig, *, lake=None, run_id: str) -> PreparedRun:
    """Check data, model, device and output before any training; raises typed errors, writes nothing."""
    device = resolve_device(cfg.device)
    bf16 = resolve_bf16(cfg.bf16, device)
    if uses_flash_attention(device, bf16):
        cfg = cfg.model_copy(update={"pack_length": 0})  # varlen kernels: one packed row is cheapest
    data = load_split(trainer, lake=lake, split=cfg.split, version=cfg.version, data=cfg.data)
    eval_data = None
    if cfg.eval_split:
        eval_data = load_split(trainer, lake=lake, split=cfg.eval_split, version=cfg.eval_version)
    model_path = resolve_model(cfg.model)
    tokenizer = load_tokenizer(model_path)
    out_dir = choose_out_dir(trainer, cfg, run_id)
    lineage = {"run_id": run_id, "trainer": trainer, "split": data.name, "split_version": data.version,
               "lake_snapshot": data.version if cfg.data is None else None, "source": data.source,
               "eval_split": eval_data.name if eval_data else None, "model": str(model_path),
               "device": str(device), "bf16": bf16, "checkpoint": str(out_dir.resolve()),
               "config": cfg.model_dump(mode="json")}
    if cfg.resume:
        lineage["resumed_run_id"] = checkpoint_meta(list_checkpoints(out_dir)[-1]).get("run_id")
    prepared = PreparedRun(trainer, cfg, data, eval_data, model_path, device, bf16, tokenizer, out_dir, lineage)
    prepared.recipe = make_recipe(prepared)  # tokenizes every row: bad rows fail here, not mid-run
    return prepared


def make_recipe(prepared: PreparedRun) -> Recipe:
    """The registered trainer's recipe over the prepared rows."""
    p = prepared
    eval_rows = p.eval_data.rows if p.eval_data else None
    return trainer_spec(p.trainer).recipe_class()(p.data.rows, p.tokenizer, p.cfg, eval_rows)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) so a run repeats."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def execute(prepared: PreparedRun, *, run_id: str, on_metrics: MetricsCallback | None = None,
            **context) -> TrainResult:
    """Train, save the final checkpoint with its lineage, and return the result. `context`
    reaches the recipe's `setup` (e.g. GRPO's `sampler`), beside `model_path`."""
    p, started = prepared, time.perf_counter()
    seed_everything(p.cfg.seed)
    model = load_model(p.model_path, p.cfg, p.device, p.bf16)
    recipe = p.recipe
    recipe.setup(model, p.device, p.bf16, model_path=p.model_path, **context)
    p.out_dir.mkdir(parents=True, exist_ok=True)
    meta = {k: p.lineage[k] for k in ("run_id", "trainer", "split", "split_version", "model")}
    fitted = fit(model, p.tokenizer, recipe, p.cfg, device=p.device, bf16=p.bf16, out_dir=p.out_dir,
                 meta=meta, on_metrics=on_metrics)
    lineage = {**p.lineage, "run_id": run_id, "steps": fitted.steps, "rows_used": recipe.n_rows,
               "rows_skipped": len(p.data.rows) - recipe.n_rows, "resumed_from": meta.get("resumed_from")}
    save_final(p.out_dir, model, p.tokenizer, lineage)
    return TrainResult(run_id, p.out_dir, fitted.steps, time.perf_counter() - started, fitted.tokens_per_s,
                       fitted.last_metrics, lineage, model=model)


def train(trainer: str, cfg: TrainConfig, *, lake=None, run_id: str = "local",
          on_metrics: MetricsCallback | None = None, **context) -> TrainResult:
    """prepare_run + execute, for library use and tests."""
    return execute(prepare_run(trainer, cfg, lake=lake, run_id=run_id), run_id=run_id,
                   on_metrics=on_metrics, **context)
