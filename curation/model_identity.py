"""A model's identity: a fingerprint of what it computes, not of the folder it sits in.

Two checkpoints of one architecture have the same config and the same safetensors headers and
sizes, so the weights' bytes are hashed too. That costs about a second per GB once: the result is
cached beside the model (or under ~/.cache/warmstart when the folder is read-only), keyed by each
file's size and modification time, so later runs read it back at once.

    model_fingerprint(Path("data/models/smollm2-135m-instruct"))  # -> '3f9c...' (20 hex chars)

A remote model (an OpenAI-compatible server) has no weights here: it is named by its served name
and the server's address (`remote_fingerprint`), which cannot tell a redeployed checkpoint apart.
"""

import hashlib
import json
import os
from pathlib import Path

from urllib.parse import urlsplit, urlunsplit

from schemas.errors import ModelError
from schemas.ids import content_id

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


def remote_fingerprint(served_name: str, base_url: str | None) -> str:
    """A served model's identity: its name and the server's scheme, host, port and path (no user,
    password or query string, which may hold secrets)."""
    return content_id("remote model", served_name, public_url(base_url))


def public_url(base_url: str | None) -> str | None:
    """base_url without credentials or query: 'https://u:pw@h:8000/v1?key=x' -> 'https://h:8000/v1'."""
    if base_url is None:
        return None
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def template_fingerprint(chat_template: str | dict | None) -> str:
    """Hash of the chat template text a backend renders prompts with (None: the server's own)."""
    return content_id("chat template", chat_template)


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

