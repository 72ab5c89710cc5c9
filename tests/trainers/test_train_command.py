"""`warmstart train`: records the run with its lineage and metrics; bad input writes nothing."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from flows.cli import main
from schemas.split_registry import register_split
from tiny_models import add_split, digit_preference_rows, digit_sft_rows


@pytest.fixture
def splits(lake):
    add_split(lake, "sft", "sft", digit_sft_rows(4))
    add_split(lake, "preference", "preference", digit_preference_rows(4))
    return lake


def train_cli(trainer, lake, model_dir, out, *extra):
    return main(["train", trainer, "--lake", str(lake.location), "--model", str(model_dir), "--out", str(out),
                 "--set", "progress=false", *extra])


def test_train_records_the_run_lineage_and_metrics(splits, digit_model_dir, tmp_path, capsys):
    version = splits.latest_version()
    code = train_cli("sft", splits, digit_model_dir, tmp_path / "out", "--split", "sft", "--max-steps", "3",
                     "--lr", "1e-3", "--set", "warmup_steps=1", "--parent", "loop0")
    assert code == 0, capsys.readouterr().err
    run = splits.query("SELECT * FROM runs WHERE kind = 'train'").to_pylist()
    assert len(run) == 1 and run[0]["status"] == "completed" and run[0]["parent_run_id"] == "loop0"
    config = json.loads(run[0]["config"])
    assert config["split"] == "sft" and config["split_version"] <= version and config["lake_snapshot"] is not None
    assert config["config"]["learning_rate"] == 1e-3 and config["config"]["warmup_steps"] == 1
    metrics = splits.query(f"SELECT step, metric FROM train_metrics WHERE run_id = '{run[0]['run_id']}'")
    assert {"loss", "tokens_per_s", "lr", "grad_norm"} <= set(metrics.column("metric").to_pylist())
    assert max(metrics.column("step").to_pylist()) == 3
    assert (tmp_path / "out" / "model.safetensors").exists()


def test_failed_training_is_recorded_as_failed(splits, tmp_path, capsys, monkeypatch, digit_model_dir):
    import trainers.fit

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(trainers.fit, "_accumulate", broken)
    code = train_cli("dpo", splits, digit_model_dir, tmp_path / "out", "--split", "preference", "--max-steps", "2")
    assert code == 1 and "training failed: RuntimeError: out of memory" in capsys.readouterr().err
    run = splits.query("SELECT status, detail FROM runs WHERE kind = 'train'").to_pylist()
    assert run == [{"status": "failed", "detail": "RuntimeError: out of memory"}]


def write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


BAD_INPUT = [
    ("unknown split", ["sft", "--split", "nope"], 5, "unknown split 'nope'"),
    ("unknown version", ["sft", "--split", "sft", "--version", "999"], 5, "has no version 999"),
    ("wrong kind", ["dpo", "--split", "sft"], 5, "needs a 'preference' split"),
    ("empty split", ["sft", "--split", "empty"], 5, "is empty"),
    ("missing columns", ["dpo", "--data", "{tmp}/pairs.parquet"], 3, "missing column(s) rejected"),
    ("no assistant", ["sft", "--data", "{tmp}/chats.parquet"], 3, "no assistant message"),
    ("nothing to learn within max_length", ["sft", "--data", "{tmp}/long.parquet", "--set", "max_length=8"], 5,
     "no example has assistant tokens"),
    ("missing model", ["sft", "--split", "sft", "--model", "{tmp}/no-such-model"], 6, "unknown model"),
    ("bad option", ["sft", "--split", "sft", "--set", "learning_rate=-1"], 2, "learning_rate"),
    ("resume without checkpoint", ["sft", "--split", "sft", "--resume"], 2, "no checkpoint"),
]


@pytest.mark.parametrize("name,args,exit_code,message", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_one_clear_line_and_writes_nothing(name, args, exit_code, message, splits, digit_model_dir,
                                                        tmp_path, capsys):
    register_split(splits, "empty", "sft", [], run_id="t")
    write_parquet(tmp_path / "pairs.parquet", [{"prompt": "say 1", "chosen": "1"}])
    write_parquet(tmp_path / "chats.parquet", [{"messages": [{"role": "user", "content": "say 1"}]}])
    write_parquet(tmp_path / "long.parquet", [{"messages": [{"role": "user", "content": "say 1 2 3 4 5 6 7 8"},
                                                            {"role": "assistant", "content": "9"}]}])
    before = splits.latest_version()
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    argv = ["train", args[0], "--lake", str(splits.location), "--set", "progress=false", "--out", str(tmp_path / "out")]
    if "--model" not in args:
        argv += ["--model", str(digit_model_dir)]
    code = main(argv + args[1:])
    err = capsys.readouterr().err
    assert code == exit_code, err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert splits.latest_version() == before
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_device_error(splits, digit_model_dir, tmp_path, capsys):
    before = splits.latest_version()
    assert train_cli("sft", splits, digit_model_dir, tmp_path / "out", "--split", "sft", "--device", "cuda") == 7
    assert "CUDA is not available" in capsys.readouterr().err
    assert splits.latest_version() == before


def test_every_trainer_command_has_help():
    from flows.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    train = sub.choices["train"]
    trainers = next(a for a in train._actions if a.dest == "trainer")
    assert set(trainers.choices) == {"sft", "dpo", "grpo"}
    for parser in trainers.choices.values():
        assert "--split" in parser.format_help() and parser.description


def test_via_prefect_forwards_the_same_options_to_the_worker(tmp_path):
    from flows.cli import build_parser
    from flows.commands.train import config_values, forwarded_args
    from flows.deployed import parse_train_args, train_argv

    (tmp_path / "c.yaml").write_text("trainer: dpo\nbeta: 0.2\n")
    args = build_parser().parse_args(["train", "dpo", "--split", "pref", "--version", "2", "--config",
                                      str(tmp_path / "c.yaml"), "--lr", "3e-6", "--resume", "--lora",
                                      "--set", "lora.r=4", "--set", "loss_type=ipo"])
    worker = parse_train_args(train_argv("dpo", "pref", 2, "lake", forwarded_args(args)))
    assert config_values(worker) == config_values(args)
    assert (worker.config, worker.overrides) == (str((tmp_path / "c.yaml").resolve()), args.overrides)


def dmt_splits(lake, stage2_ids=None):
    """A DMT mix as the curate flow registers it: sft_stage1 (specialist) and sft_stage2 (general + replay)."""
    from schemas.split_registry import register_splits

    rows = digit_sft_rows(8)
    lake.commit({"sft_examples": rows}, run_id="curate")
    ids = [r["example_id"] for r in rows]
    return register_splits(lake, {"sft_stage1": ("sft", ids[:4]),
                                  "sft_stage2": ("sft", stage2_ids if stage2_ids is not None else ids[4:] + ids[:1])},
                           run_id="curate")


def test_a_dmt_split_trains_stage_1_then_stage_2_from_its_checkpoint(lake, digit_model_dir, tmp_path, capsys):
    """On (a DMT mix): two recorded runs, stage 2 starting from stage 1's checkpoint. Off (a plain
    split, the fixture's `sft`): one run from the base model."""
    version = dmt_splits(lake)
    assert train_cli("sft", lake, digit_model_dir, tmp_path / "out", "--split", "sft", "--max-steps", "2",
                     "--parent", "p0") == 0, capsys.readouterr().err
    runs = {r["run_id"]: r for r in lake.query("SELECT * FROM runs WHERE kind = 'train'").to_pylist()}
    assert len(runs) == 2
    first = next(json.loads(r["config"]) for rid, r in runs.items() if rid.endswith("-stage1"))
    second = next(json.loads(r["config"]) for rid, r in runs.items() if not rid.endswith("-stage1"))
    assert (first["split"], first["split_version"], first["dmt_stage"]) == ("sft_stage1", version, 1)
    assert first["model"] == str(digit_model_dir) and first["checkpoint"] == str((tmp_path / "out-stage1").resolve())
    assert (second["split"], second["split_version"], second["dmt_stage"]) == ("sft_stage2", version, 2)
    assert second["model"] == first["checkpoint"] and second["previous_stage_run_id"] == first["run_id"]
    assert second["checkpoint"] == str((tmp_path / "out").resolve())
    assert {r["parent_run_id"] for r in runs.values()} == {"p0"}
    assert "sft_stage1" in capsys.readouterr().out


def test_a_dmt_split_with_a_bad_stage_2_trains_nothing(lake, digit_model_dir, tmp_path, capsys):
    dmt_splits(lake, stage2_ids=["no-such-example"])
    before = lake.latest_version()
    assert train_cli("sft", lake, digit_model_dir, tmp_path / "out", "--split", "sft", "--max-steps", "1") == 5
    assert "split 'sft_stage2'" in capsys.readouterr().err
    assert lake.latest_version() == before and not (tmp_path / "out-stage1").exists()


def test_exported_dmt_stages_train_in_order(lake, digit_model_dir, tmp_path, capsys):
    from flows.export import export_split

    dmt_splits(lake)
    for name in ("sft_stage1", "sft_stage2"):
        export_split(lake, name, tmp_path / "data")
    assert main(["train", "sft", "--data", str(tmp_path / "data"), "--model", str(digit_model_dir), "--out",
                 str(tmp_path / "out"), "--max-steps", "1", "--set", "progress=false", "--lake",
                 str(tmp_path / "nolake")]) == 0, capsys.readouterr().err
    assert (tmp_path / "out-stage1" / "model.safetensors").exists() and (tmp_path / "out" / "lineage.json").exists()
    lineage = json.loads((tmp_path / "out" / "lineage.json").read_text())
    assert lineage["split"] == "sft_stage2" and lineage["model"] == str((tmp_path / "out-stage1").resolve())
