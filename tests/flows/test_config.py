"""Config loading: every shipped config validates; bad YAML and keys give one clear line."""

from pathlib import Path

import pytest

from flows.config import load_config
from schemas.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Which loader reads each shipped config; a new config must be listed here to be shipped.
KINDS = {"demo.yaml": "curate", "efficacy.yaml": "efficacy", "loop.yaml": "loop", "bench.yaml": "bench",
         "train_sft.yaml": "sft", "train_dpo.yaml": "dpo", "train_grpo.yaml": "grpo"}


def test_every_shipped_config_has_a_known_kind():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(KINDS)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_shipped_config_loads(name):
    path, kind = CONFIGS / name, KINDS[name]
    if kind == "curate":
        cfg = load_config(path)
        assert cfg.sources and cfg.sampling.k >= 1
    elif kind == "bench":
        from benchmarks.bench_config import load_bench_config
        from curation.decontam import DecontamConfig

        for smoke in (False, True):
            bench = load_bench_config(path, smoke=smoke)
            assert all(DecontamConfig(**s.config) for s in bench.decontam_recall.settings)
            assert bench.scaling.prompts == sorted(bench.scaling.prompts)
    elif kind == "efficacy":
        from benchmarks.efficacy_config import load_efficacy_config

        assert len(load_efficacy_config(path).seeds) >= 3
        for profile in load_efficacy_config(path).profiles:
            assert load_efficacy_config(path, profile).profile == profile
    elif kind == "loop":
        from flows.closed_loop_config import load_loop_config

        assert load_loop_config(path).rounds >= 1
    else:
        from trainers.config import load_config as load_train_config
        from trainers.registry import trainer_spec

        assert isinstance(load_train_config(kind, path), trainer_spec(kind).config_class())


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
