"""Config loading: every shipped config validates; bad YAML and keys give one clear line."""

from pathlib import Path

import pytest

from flows.config import load_config
from schemas.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("train_")),
                         ids=lambda p: p.name)
def test_every_shipped_curate_config_loads(path):
    cfg = load_config(path)
    assert cfg.sources and cfg.sampling.k >= 1


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


BASE = "sources: [{type: reasoning_gym, task: gcd, count: 2}]\n"


def test_defaults_and_overrides(tmp_path):
    cfg = load_config(write(tmp_path, BASE), ["sampling.k=8", "lake=/tmp/x"])
    assert cfg.sampling.k == 8 and cfg.lake == "/tmp/x" and cfg.backend == "vllm"


@pytest.mark.parametrize("text, pattern", [
    ("sources: [\n", r"c\.yaml: invalid YAML"),
    ("- a\n- b\n", r"expected a mapping"),
    (BASE + "colour: red\n", r"colour: unknown key"),
    (BASE + "sampling: {k: 0}\n", r"sampling\.k: Input should be greater than or equal to 1"),
    (BASE + "sampling: {tempreature: 1}\n", r"sampling\.tempreature: unknown key"),
    ("sources: []\n", r"sources: List should have at least 1 item"),
    ("sources: [{type: csv, path: x}]\n", r"sources\.0"),
    (BASE + "backend: tgi\n", r"backend: Input should be 'vllm', 'transformers' or 'openai'"),
])
def test_bad_configs_name_the_key(tmp_path, text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(write(tmp_path, text))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
