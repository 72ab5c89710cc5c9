"""Checkpoints: Hugging Face weights plus the optimizer and RNG state that make a resume exact.

    out/checkpoint-20/   model (or LoRA adapter) + tokenizer + trainer_state.pt   (resumable)
    out/                 final merged model + tokenizer + lineage.json           (load anywhere)

On several processes every rank takes part in gathering the sharded weights and optimizer state
(trainers/parallel.py); rank 0 alone writes, in the same layout, so the result loads unchanged.
"""

import json
import random
import shutil
from pathlib import Path

import torch

from schemas.errors import ConfigError
from trainers.parallel import ONE_PROCESS, Parallel, full_state_dict

STATE_FILE = "trainer_state.pt"
META_FILE = "warmstart_meta.json"
LINEAGE_FILE = "lineage.json"


def is_peft(model) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def save_checkpoint(out_dir: Path, step: int, model, tokenizer, optimizer, *, meta: dict,
                    keep: int = 2, parallel: Parallel = ONE_PROCESS) -> Path:
    """Write out_dir/checkpoint-<step> atomically and prune all but the newest `keep`."""
    final = out_dir / f"checkpoint-{step}"
    tmp = out_dir / f".checkpoint-{step}.partial"
    weights = full_state_dict(model, parallel)
    optimizer_state = _optimizer_state(model, optimizer, parallel)
    if not parallel.main:
        parallel.barrier()
        return final
    shutil.rmtree(tmp, ignore_errors=True)
    save_weights(model, tmp, state_dict=weights)  # the training dtype, so a resume continues from the exact weights
    tokenizer.save_pretrained(tmp)
    torch.save({"step": step, **optimizer_state, "rng": _rng_state(), "meta": meta}, tmp / STATE_FILE)
    (tmp / META_FILE).write_text(json.dumps({"step": step, **meta}, indent=2, default=str))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)  # a killed save never leaves a half checkpoint that resume would pick
    for old in list_checkpoints(out_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    parallel.barrier()
    return final


def _optimizer_state(model, optimizer, parallel: Parallel) -> dict:
    """One process: the optimizer's own state dict. Several: the full state keyed by parameter
    name (gathered from the shards; every rank must call)."""
    if not parallel.distributed:
        return {"optimizer": optimizer.state_dict()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return {"optimizer_by_name": get_optimizer_state_dict(model, optimizer, options=options)}


def list_checkpoints(out_dir: Path) -> list[Path]:
    """Complete resumable checkpoints under out_dir, oldest first."""
    if not out_dir.is_dir():
        return []
    found = [p for p in out_dir.glob("checkpoint-*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))


def checkpoint_meta(path: Path) -> dict:
    """The small JSON a checkpoint carries: step, run id, trainer, split and model it came from."""
    file = path / META_FILE
    return json.loads(file.read_text()) if file.exists() else {}


def load_checkpoint(path: Path, model, optimizer, *, parallel: Parallel = ONE_PROCESS) -> dict:
    """Restore weights, optimizer and RNG from `path`; return its state (step, meta)."""
    state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
    _load_weights(path, model, parallel)
    if "optimizer_by_name" in state:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state["optimizer_by_name"],
                                 options=StateDictOptions(full_state_dict=True))
    elif parallel.distributed:
        raise ConfigError(f"{path} was saved by one process: resume it without --gpus")
    else:
        optimizer.load_state_dict(state["optimizer"])
    _set_rng_state(state["rng"])
    return state


def _load_weights(path: Path, model, parallel: Parallel = ONE_PROCESS) -> None:
    from safetensors.torch import load_file

    if is_peft(model):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors"))
        return
    weights = {}
    for file in sorted(path.glob("*.safetensors")):
        weights.update(load_file(file))
    if parallel.strategy == "fsdp":  # every rank read the full weights: each keeps its shard
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True, strict=False))
        return
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied = {k for k in missing if k.endswith("lm_head.weight")} if model.config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise ConfigError(f"checkpoint {path} does not match the model "
                          f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]})")


def save_final(out_dir: Path, model, tokenizer, lineage: dict, parallel: Parallel = ONE_PROCESS, *,
               dtype: str = "auto") -> Path:
    """The trained model as a plain HF checkpoint (LoRA merged) that transformers and vLLM load,
    its weights in `dtype` ("auto": the dtype they are trained in). Written beside out_dir first
    and moved in file by file, lineage.json last: a run that dies while saving leaves no final
    model that looks complete."""
    weights = full_state_dict(model, parallel)
    if not parallel.main:
        parallel.barrier()
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".final.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (out_dir / LINEAGE_FILE).unlink(missing_ok=True)  # its presence marks a complete final model
    export = model.merge_and_unload() if is_peft(model) else model
    save_weights(export, tmp, None if dtype == "auto" else getattr(torch, dtype), state_dict=weights)
    tokenizer.save_pretrained(tmp)
    for file in sorted(tmp.iterdir()):
        file.replace(out_dir / file.name)
    tmp.rmdir()
    (out_dir / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2, default=str))
    parallel.barrier()
    return out_dir


def save_weights(model, out_dir: Path, dtype: torch.dtype | None = None, *, state_dict: dict | None = None) -> None:
    """save_pretrained with the weights in `dtype` (None: as they are), and config.json declaring
    that dtype, so an engine loads them without a cast per weight. `state_dict`: the gathered
    weights of a sharded model (None: the model's own)."""
    if dtype is None or dtype == model.dtype:  # save_pretrained declares the weights' own dtype
        model.save_pretrained(out_dir, safe_serialization=True, state_dict=state_dict)
        return
    cast: dict = {}  # one cast per tensor: tied weights (embeddings, lm_head) stay one tensor

    def converted(tensor: torch.Tensor) -> torch.Tensor:
        if not tensor.is_floating_point():
            return tensor
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key not in cast:
            cast[key] = tensor.detach().to(dtype)
        return cast[key]

    weights = model.state_dict() if state_dict is None else state_dict
    model.save_pretrained(out_dir, state_dict={k: converted(v) for k, v in weights.items()},
                          safe_serialization=True)
    config_file = out_dir / "config.json"  # save_pretrained wrote the model's own dtype there
    config = json.loads(config_file.read_text())
    config["dtype"] = str(dtype).removeprefix("torch.")
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def read_lineage(out_dir: Path) -> dict:
    """The lineage a previous run left in out_dir (empty when none)."""
    path = out_dir / LINEAGE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _rng_state() -> dict:
    import numpy as np

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import numpy as np

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
