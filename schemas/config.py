"""The one config path every command shares: a strict pydantic base, one YAML reader with
dotted `key.path=value` overrides, and one formatter of validation errors.

    raw = read_yaml("configs/demo.yaml", ["sampling.k=8"])
    cfg = validate_model(CurateConfig, raw, "configs/demo.yaml")
"""

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.errors import ConfigError

SECRET_WORDS = ("key", "token", "password", "secret")  # values under such keys are never echoed
Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config model: an unknown key is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def read_yaml(path: str | Path, overrides: list[str] | None = None) -> dict:
    """A YAML file's top-level mapping with `dotted.key=value` overrides applied."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    apply_overrides(raw, overrides or [])
    return raw


def merge_mappings(base: dict, extra: dict) -> dict:
    """`extra` over `base`, mappings merged key by key; an empty mapping replaces (clears) its key
    (a profile or smoke section over a config's defaults)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge_mappings(out.get(key) or {}, value) if isinstance(value, dict) and value else value
    return out


def apply_overrides(raw: dict, items: list[str]) -> dict:
    """Apply `dotted.key=value` overrides (values parsed as YAML) to a config mapping, in order."""
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts):
            raise ConfigError(f"override '{item}' must look like key.path=value")
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a mapping")
        node[parts[-1]] = yaml.safe_load(value)
    return raw


def validate_model(model: type[Model], raw: dict, origin: str | Path = "config") -> Model:
    """`model` validated from `raw`; a ConfigError naming `origin`, the key path, the value and
    what was expected."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None


def format_validation_error(exc: ValidationError, origin: str | Path = "config") -> str:
    """One line: `origin: key.path: what was expected (got value)`, up to five problems."""
    parts = []
    for err in exc.errors()[:5]:
        path = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        if path and err["type"] != "missing":
            message += f" (got {_shown(path, err.get('input'))})"
        parts.append(f"{'.'.join(path)}: {message}" if path else message)
    return f"{origin}: " + "; ".join(parts)


def _shown(path: list[str], value) -> str:
    if any(word in part.lower() for part in path for word in SECRET_WORDS):
        return "<hidden>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
