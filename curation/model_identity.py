"""A model's identity: a fingerprint of what it computes, not of the folder it sits in.

Two checkpoints of one architecture have the same config and the same safetensors headers and
sizes, so the weights' bytes are hashed too. That costs about a second per GB once: the result is
cached beside the model (or under ~/.cache/warmstart when the folder is read-only), keyed by each
file's size and modification time, so later runs read it back at once.

    model_fingerprint(Path("data/models/smollm2-135m-instruct"))  # -> '3f9c...' (20 hex chars)
"""

import hashlib
import json
import os
from pathlib import Path

from curation.models import resolve_model
from schemas.errors import ModelError

CACHE_NAME = ".warmstart-fingerprint.json"
# Files that change what the model computes or how its text is rendered. Training-state files
# (optimizer, lineage, run metadata) are left out: two identical weights are one model.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".model")
_SKIPPED = {CACHE_NAME, "lineage.json", "warmstart_meta.json", "trainer_state.pt"}
_CHUNK = 1 << 20


def model_fingerprint(model_dir: str | Path) -> str:
    """20-hex-char hash of a model directory's config, tokenizer and weight files (cached)."""
    folder = Path(model_dir)
    files = _identity_files(folder)
    if not any(f.suffix in _WEIGHT_SUFFIXES for f in files):
        raise ModelError(f"{folder}: no weight files (*.safetensors, *.bin, *.gguf) to fingerprint")
    stamp = {f.name: [f.stat().st_size, f.stat().st_mtime_ns] for f in files}
    cached = _read_cache(folder)
    if cached and cached.get("files") == stamp:
        return cached["fingerprint"]
    digest = hashlib.blake2b(digest_size=10)
    for file in files:
        digest.update(file.name.encode() + b"\0")
        digest.update(_file_digest(file))
    fingerprint = digest.hexdigest()
    _write_cache(folder, {"fingerprint": fingerprint, "files": stamp})
    return fingerprint


def _identity_files(folder: Path) -> list[Path]:
    if not (folder / "config.json").exists():
        raise ModelError(f"{folder}: not a model directory (no config.json)")
    return sorted(f for f in folder.iterdir()
                  if f.is_file() and f.name not in _SKIPPED and not f.name.startswith(".")
                  and (f.suffix in _WEIGHT_SUFFIXES or f.suffix in (".json", ".jinja", ".txt")))


def _file_digest(path: Path) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _cache_paths(folder: Path) -> list[Path]:
    key = hashlib.blake2b(str(folder.resolve()).encode(), digest_size=8).hexdigest()
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [folder / CACHE_NAME, home / "warmstart" / "fingerprints" / f"{key}.json"]


def _read_cache(folder: Path) -> dict | None:
    for path in _cache_paths(folder):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return None


def _write_cache(folder: Path, record: dict) -> None:
    for path in _cache_paths(folder):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(record, sort_keys=True))
            os.replace(tmp, path)
            return
        except OSError:
            continue  # read-only model folder: the user cache instead; neither: recompute next time


def policy_fingerprint(backend: str, model: str | Path) -> str:
    """The policy a curate run samples: its weights' fingerprint, or for the openai backend (no
    weights to read) the served model's name."""
    if backend == "openai":
        return str(model)
    return model_fingerprint(resolve_model(model))
