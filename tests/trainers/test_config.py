"""Trainer configs: every shipped YAML loads; flags override; mistakes name the field."""

from pathlib import Path

import pytest

from schemas.errors import ConfigError
from trainers.config import load_config
from trainers.dpo import DPOConfig
from trainers.fit import lr_factor
from trainers.grpo import GRPOConfig
from trainers.sft import SFTConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("trainer,cls", [("sft", SFTConfig), ("dpo", DPOConfig), ("grpo", GRPOConfig)])
def test_every_shipped_config_loads(trainer, cls):
    cfg = load_config(trainer, CONFIGS / f"train_{trainer}.yaml")
    assert isinstance(cfg, cls) and cfg.split


def test_flags_override_the_yaml_and_unset_flags_do_not():
    cfg = load_config("sft", CONFIGS / "train_sft.yaml", {"max_steps": 5, "seed": None})
    assert cfg.max_steps == 5 and cfg.seed == 42


def test_dotted_overrides_come_last_and_reach_nested_options():
    cfg = load_config("sft", CONFIGS / "train_sft.yaml", {"max_steps": 5}, ["max_steps=7", "lora.r=4"])
    assert cfg.max_steps == 7 and cfg.lora.r == 4 and cfg.lora.alpha == 32
    assert load_config("sft", CONFIGS / "train_sft.yaml").lora is None


def test_a_mapping_value_merges_into_the_yaml_mapping(tmp_path):
    path = tmp_path / "lora.yaml"
    path.write_text("lora: {r: 8}\n")
    assert load_config("sft", path, {"lora": {}}).lora.r == 8  # --lora keeps the YAML's rank
    assert load_config("sft", path, {"lora": {"alpha": 4}}).lora.model_dump(include={"r", "alpha"}) == {"r": 8, "alpha": 4}
    assert load_config("sft", None, {"lora": {}}).lora.r == 16


def test_mistakes_name_the_file_and_field(tmp_path):
    wrong = tmp_path / "x.yaml"
    wrong.write_text("trainer: dpo\nsplit: preference\n")
    with pytest.raises(ConfigError, match="for trainer 'dpo'"):
        load_config("sft", wrong)
    wrong.write_text("split: sft\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rat"):
        load_config("sft", wrong)
    with pytest.raises(ConfigError, match="num_generations"):
        load_config("grpo", None, {"num_generations": 1})
    with pytest.raises(ConfigError, match="either split or data"):
        load_config("sft", None, {"split": "a", "data": "b"})
    with pytest.raises(ConfigError, match="unknown trainer 'ppo'; trainers: sft, dpo, grpo"):
        load_config("ppo")


def test_learning_rate_warms_up_then_follows_the_schedule():
    assert lr_factor(0, 100, 4, "cosine", 0.0) == pytest.approx(0.2)
    assert lr_factor(4, 100, 4, "cosine", 0.0) == pytest.approx(1.0)
    assert lr_factor(100, 100, 4, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(52, 100, 4, "linear", 0.0) == pytest.approx(0.5)
    assert lr_factor(99, 100, 0, "constant", 0.0) == 1.0
