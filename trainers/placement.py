"""Put the model on its devices: the device and its checks, the weight dtype, LoRA, one process
or FSDP2 shards / replicas over torchrun ranks, torch.compile, and the memory plan.

    placed = place_model(model_path, cfg, device, bf16, recipe)   # .model .device .parallel
    recipe.setup(placed.model, placed.device, bf16, ...)          # may take memory (GRPO's vLLM engine)
    placed.memory = fit_to_memory(placed, cfg, bf16, recipe)      # what is left decides checkpointing
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from schemas.errors import ConfigError, DeviceError, ModelError
from trainers.config import TrainConfig
from trainers.fit import StepPlan
from trainers.memory import MemoryPlan, plan_memory, set_checkpointing
from trainers.parallel import Parallel, decoder_layers, init_parallel, launched_by_torchrun, shard_model

WEIGHT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def resolve_device(name: str, gpus: int = 1) -> torch.device:
    """cpu, cuda (must exist, with at least `gpus` devices) or auto (cuda when available)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device cuda: CUDA is not available here (torch {torch.__version__}); "
                          "use --device cpu")
    device = torch.device("cuda" if name == "auto" and torch.cuda.is_available() else
                          "cpu" if name == "auto" else name)
    if gpus > 1 and device.type == "cuda" and gpus > torch.cuda.device_count():
        raise DeviceError(f"--gpus {gpus}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if gpus > 1 and device.type == "cpu" and name != "cpu":
        raise DeviceError(f"--gpus {gpus}: no CUDA GPU here; --device cpu runs {gpus} CPU processes (gloo)")
    return device


def resolve_bf16(wanted: bool | None, device: torch.device) -> bool:
    """bf16 autocast: as asked, else on for CUDA devices that support it."""
    if wanted is None:
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    if wanted and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("bf16 requested but this GPU does not support bfloat16")
    return wanted


def uses_flash_attention(device: torch.device, bf16: bool) -> bool:
    """flash-attention 2 (varlen kernels for packed rows) when installed, on CUDA in bf16."""
    return device.type == "cuda" and bf16 and importlib.util.find_spec("flash_attn") is not None


def load_model(path: Path, cfg: TrainConfig, device: torch.device, bf16: bool, *, keep_on_cpu: bool = False):
    """The causal LM in cfg.weights' dtype for `device` (left on the CPU with `keep_on_cpu`: FSDP2
    moves each rank's shard), with LoRA as configured."""
    from transformers import AutoModelForCausalLM

    options = {"dtype": WEIGHT_DTYPES[cfg.weights]}
    if uses_flash_attention(device, bf16):
        options["attn_implementation"] = "flash_attention_2"  # varlen kernels for packed rows
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **options)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model from {path}: {exc}") from None
    if cfg.lora is not None:
        model = _with_lora(model, cfg)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    return model if keep_on_cpu else model.to(device)


def _with_lora(model, cfg: TrainConfig):
    if importlib.util.find_spec("peft") is None:
        raise ConfigError("lora needs peft: pip install 'warmstart[lora]'")
    from peft import LoraConfig, get_peft_model

    options = cfg.lora
    return get_peft_model(model, LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                                            target_modules=options.target_modules, task_type="CAUSAL_LM"))


def check_parallel_options(cfg: TrainConfig, sharding: str) -> None:
    """Refuse what several processes cannot do yet, before anything runs."""
    if (cfg.gpus > 1 or launched_by_torchrun()) and sharding == "fsdp" and cfg.lora is not None:
        raise ConfigError("--lora trains on one device; sharded (FSDP2) training takes full weights")


def compile_layers(model) -> None:
    """torch.compile every decoder layer's forward (regional: compiles once for all layers alike;
    FSDP2's and checkpointing's hooks stay outside the compiled code)."""
    for layer in decoder_layers(model):
        layer.forward = torch.compile(layer.forward)


@dataclass
class Placed:
    """The model on its devices, this process's place in the run, and the memory plan."""

    model: object
    device: torch.device
    parallel: Parallel
    memory: MemoryPlan | None = None


def place_model(path: Path, cfg: TrainConfig, device: torch.device, bf16: bool, recipe) -> Placed:
    """Load, shard or replicate (under torchrun) and compile the model; the recipe learns its ranks."""
    parallel, device = init_parallel(device, recipe.sharding)
    sharded = parallel.strategy == "fsdp"
    model = load_model(path, cfg, device, bf16, keep_on_cpu=sharded)
    if cfg.compile:
        compile_layers(model)
    if sharded:
        shard_model(model, parallel, device, bf16=bf16, weights=cfg.weights)
    recipe.parallel = parallel
    return Placed(model, device, parallel)


def fit_to_memory(placed: Placed, cfg: TrainConfig, bf16: bool, recipe) -> MemoryPlan:
    """The memory plan (trainers/memory.py), the same on every rank (rank 0's), applied."""
    plan = StepPlan(recipe, cfg, placed.parallel)
    world = placed.parallel.world if placed.parallel.strategy == "fsdp" else 1
    memory = plan_memory(placed.model, cfg, placed.device, bf16, largest_tokens=plan.largest_tokens,
                         longest_example=recipe.unit_tokens, world=world)
    memory = placed.parallel.broadcast(memory)
    set_checkpointing(placed.model, memory.gradient_checkpointing)
    return memory
