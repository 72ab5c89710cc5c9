"""Adding a trainer is one recipe (here, in this test), one registry line and one YAML: the toy
trainer below then trains through `warmstart train`, validates in a loop config and parses in
`schedule --train`, with no other file touched."""

import pytest
import yaml
from pydantic import Field

from flows.cli import build_parser, main
from schemas.errors import ConfigError
from tiny_models import add_split, digit_sft_rows
from trainers.collate import collate, encode_chat
from trainers.config import TrainConfig
from trainers.logprobs import label_logps
from trainers.recipe import Recipe
from trainers.registry import TRAINERS, TrainerSpec, register, trainer_spec


class ToyConfig(TrainConfig):
    """Mean token NLL over whole conversations, scaled."""

    loss_scale: float = Field(1.0, gt=0, description="multiplies the loss")


class ToyRecipe(Recipe):
    """Every token of the chat carries loss (no assistant-only mask)."""

    def __init__(self, rows, tokenizer, cfg, eval_rows=None):
        super().__init__(rows, tokenizer, cfg, eval_rows)
        self.sequences = [encode_chat(tokenizer, row["messages"], max_length=cfg.max_length, assistant_only=False)
                          for row in rows]
        self.n_examples = len(self.sequences)

    def setup(self, model, device, bf16, **context):
        super().setup(model, device, bf16)
        self.model_path = context["model_path"]

    def prepare(self, model, micro_batches):
        batches = [collate([self.sequences[i] for i in m], packing=True, pad_id=self.pad_id) for m in micro_batches]
        return [batches], {"toy_model_loaded": float(self.model_path.exists())}

    def loss(self, model, batch):
        logps = label_logps(model, batch)
        return -logps.values.mean() * self.cfg.loss_scale, {"toy_loss_scale": self.cfg.loss_scale}


@pytest.fixture
def toy():
    spec = register(TrainerSpec("toy", "sft", "toy: whole-chat NLL on an sft split",
                                f"{__name__}:ToyConfig", f"{__name__}:ToyRecipe", "--set loss_scale=0.5"))
    yield spec
    TRAINERS.pop("toy")


def test_a_registered_trainer_trains_through_the_cli(toy, lake, digit_model_dir, tmp_path, capsys):
    add_split(lake, "chats", "sft", digit_sft_rows(4))
    config = tmp_path / "train_toy.yaml"
    config.write_text(yaml.safe_dump({"trainer": "toy", "split": "chats", "batch_size": 2, "loss_scale": 2.0,
                                      "progress": False}))
    code = main(["train", "toy", "--config", str(config), "--lake", str(lake.location), "--model",
                 str(digit_model_dir), "--out", str(tmp_path / "out"), "--max-steps", "2", "--set", "loss_scale=0.5"])
    assert code == 0, capsys.readouterr().err
    run = lake.query("SELECT run_id, status, config FROM runs WHERE kind = 'train'").to_pylist()
    assert [r["status"] for r in run] == ["completed"] and '"trainer": "toy"' in run[0]["config"]
    metrics = {m["metric"]: m["value"] for m in lake.query(
        f"SELECT metric, value FROM train_metrics WHERE run_id = '{run[0]['run_id']}' AND step = 2").to_pylist()}
    assert metrics["toy_loss_scale"] == 0.5 and metrics["toy_model_loaded"] == 1.0 and metrics["loss"] > 0
    assert (tmp_path / "out" / "model.safetensors").exists()


def test_a_registered_trainer_has_help_with_its_own_example(toy, capsys):
    with pytest.raises(SystemExit):
        main(["train", "toy", "--help"])
    out = capsys.readouterr().out
    assert "toy: whole-chat NLL on an sft split" in out
    assert "warmstart train toy --split sft --set loss_scale=0.5" in out


def test_a_wrong_split_kind_is_refused_at_registration():
    with pytest.raises(ConfigError, match="unknown split kind 'chat'"):
        register(TrainerSpec("bad", "chat", "", "x:Y", "x:Z"))
    assert "bad" not in TRAINERS


def test_loop_configs_accept_registered_trainers_only(toy, tmp_path):
    from flows.closed_loop import train_config
    from flows.closed_loop_config import load_loop_config

    raw = {"name": "toyloop", "rounds": 1, "curate": {"config": "curate.yaml"},
           "train": {"first": ["toy"], "later": ["sft", "toy"], "options": {"toy": {"loss_scale": 0.25}}},
           "eval": {"sources": [{"type": "jsonl", "path": "eval.jsonl"}]}}
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_loop_config(path)
    tcfg = train_config(cfg, "toy", 0, "some-model", "toyloop-r0-sft", 1)
    assert isinstance(tcfg, ToyConfig) and tcfg.loss_scale == 0.25 and tcfg.split == "toyloop-r0-sft"
    with pytest.raises(ConfigError, match=r"train\.later\.0: unknown trainer 'ppo'; trainers: sft, dpo, grpo, toy"):
        load_loop_config(path, ["train.later=[ppo]"])


def test_schedule_and_deployed_train_arguments_know_the_trainer(toy):
    from flows.deployed import parse_train_args, train_argv

    args = build_parser().parse_args(["schedule", "--train", "toy", "--split", "chats"])
    assert args.train == "toy"
    parsed = parse_train_args(train_argv("toy", "chats", 3, "data/lake", ["--max-steps", "5", "--set", "loss_scale=2"]))
    assert (parsed.trainer, parsed.split, parsed.version, parsed.max_steps) == ("toy", "chats", 3, 5)
    assert trainer_spec("toy").config_class() is ToyConfig
    with pytest.raises(SystemExit):
        build_parser().parse_args(["schedule", "--train", "ppo", "--split", "chats"])
