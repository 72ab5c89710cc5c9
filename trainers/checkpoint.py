"""Checkpoints: Hugging Face weights plus the optimizer and RNG state that make a resume exact.

    out/checkpoint-20/   model (or LoRA adapter) + tokenizer + trainer_state.pt   (resumable)
    out/                 final merged model + tokenizer + lineage.json           (load anywhere)
"""

import json
import random
import shutil
from pathlib import Path

import torch

from schemas.errors import ConfigError

STATE_FILE = "trainer_state.pt"
META_FILE = "warmstart_meta.json"
LINEAGE_FILE = "lineage.json"


def is_peft(model) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def save_checkpoint(out_dir: Path, step: int, model, tokenizer, optimizer, *, meta: dict,
                    keep: int = 2) -> Path:
    """Write out_dir/checkpoint-<step> atomically and prune all but the newest `keep`."""
    final = out_dir / f"checkpoint-{step}"
    tmp = out_dir / f".checkpoint-{step}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    save_weights(model, tmp)  # the training dtype, so a resume continues from the exact weights
    tokenizer.save_pretrained(tmp)
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "rng": _rng_state(), "meta": meta},
               tmp / STATE_FILE)
    (tmp / META_FILE).write_text(json.dumps({"step": step, **meta}, indent=2, default=str))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)  # a killed save never leaves a half checkpoint that resume would pick
    for old in list_checkpoints(out_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


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


def load_checkpoint(path: Path, model, optimizer) -> dict:
    """Restore weights, optimizer and RNG from `path`; return its state (step, meta)."""
    state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
    _load_weights(path, model)
    optimizer.load_state_dict(state["optimizer"])
    _set_rng_state(state["rng"])
    return state


def _load_weights(path: Path, model) -> None:
    from safetensors.torch import load_file

    if is_peft(model):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors"))
        return
    weights = {}
    for file in sorted(path.glob("*.safetensors")):
        weights.update(load_file(file))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied = {k for k in missing if k.endswith("lm_head.weight")} if model.config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise ConfigError(f"checkpoint {path} does not match the model "
                          f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]})")


def save_final(out_dir: Path, model, tokenizer, lineage: dict, *, dtype: str = "auto") -> Path:
    """The trained model as a plain HF checkpoint (LoRA merged) that transformers and vLLM load,
    its weights in `dtype` ("auto": the dtype they are trained in)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    export = model.merge_and_unload() if is_peft(model) else model
    save_weights(export, out_dir, None if dtype == "auto" else getattr(torch, dtype))
    tokenizer.save_pretrained(out_dir)
    (out_dir / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2, default=str))
    return out_dir


def save_weights(model, out_dir: Path, dtype: torch.dtype | None = None) -> None:
    """save_pretrained with the weights in `dtype` (None: as they are), and config.json declaring
    that dtype, so an engine loads them without a cast per weight."""
    if dtype is None or dtype == model.dtype:
        model.save_pretrained(out_dir, safe_serialization=True)  # it declares the weights' own dtype
        return
    cast: dict = {}  # one cast per tensor: tied weights (embeddings, lm_head) stay one tensor

    def converted(tensor: torch.Tensor) -> torch.Tensor:
        if not tensor.is_floating_point():
            return tensor
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key not in cast:
            cast[key] = tensor.detach().to(dtype)
        return cast[key]

    model.save_pretrained(out_dir, state_dict={k: converted(v) for k, v in model.state_dict().items()},
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
