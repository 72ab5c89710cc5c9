"""The closed loop: rounds of curate → train → evaluate → mine on a tiny rigged model; lineage in
SQL; a stopped loop continues at its unfinished stage; bad input writes nothing."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from schemas.lake import Lake

sys.path.insert(0, str(Path(__file__).parent))
from test_resume import rigged_model, write_config  # noqa: E402

pytestmark = pytest.mark.slow
FAST = {"max_steps": 2, "batch_size": 4, "device": "cpu", "progress": False, "save_interval": 0}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return rigged_model(tmp_path_factory.mktemp("models") / "rigged-llama")


def loop_config(folder: Path, model: Path, rounds: int, **over) -> Path:
    """A loop over 8 JSONL prompts (gold 7), SFT then DPO, scored on 4 held-out prompts."""
    curate = write_config(folder / "curate", folder / "lake", model, n=8)
    with open(folder / "eval.jsonl", "w") as out:
        for i in range(4):
            out.write(json.dumps({"prompt": f"What is 7 * {i + 1} / {i + 1}?", "answer": "7"}) + "\n")
    raw = {"name": "tiny", "lake": str(folder / "lake"), "work_dir": str(folder / "runs"), "rounds": rounds,
           "curate": {"config": str(curate)},
           "train": {"first": ["sft"], "later": ["dpo"], "options": {"sft": FAST, "dpo": {**FAST, "batch_size": 2}}},
           "eval": {"sources": [{"type": "jsonl", "path": str(folder / "eval.jsonl"), "verifier": "exact"}],
                    "max_tokens": 6},
           **over}
    path = folder / "loop.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def rows(lake: Lake, sql: str) -> list[dict]:
    return lake.query(sql).to_pylist()


def test_two_rounds_record_data_checkpoints_and_scores(tmp_path, model):
    config = loop_config(tmp_path, model, rounds=2)
    assert main(["loop", str(config)]) == 0
    lake = Lake(tmp_path / "lake")
    rounds = rows(lake, "SELECT * FROM loop_rounds ORDER BY round")
    assert [(r["round"], r["status"]) for r in rounds] == [(0, "completed"), (1, "completed")]
    assert rounds[0]["policy_in"] == str(model) and rounds[1]["policy_in"] == rounds[0]["checkpoint"]
    assert rounds[0]["train_run_ids"] == "tiny-r0-sft" and rounds[1]["train_run_ids"] == "tiny-r1-dpo"
    assert Path(rounds[1]["checkpoint"], "config.json").exists()
    # round 1 curates only what round 0's policy failed (the file's prompts are not re-read)
    assert 0 < rounds[1]["n_mined"] == rounds[1]["n_prompts"] <= 8
    failed = rows(lake, "SELECT count(*) AS n FROM prompt_stats WHERE run_id = 'tiny-r0-curate' AND pass_rate < 1")
    assert rounds[1]["n_mined"] == failed[0]["n"]
    # scores: the base policy and each checkpoint, per task, and the round's before/after
    evals = rows(lake, "SELECT round, model, sum(n) AS n FROM loop_evals GROUP BY ALL ORDER BY round, model")
    assert {(e["round"], e["model"]) for e in evals} == {
        (0, str(model)), (0, rounds[0]["checkpoint"]), (1, rounds[1]["checkpoint"])}
    assert all(e["n"] == 4 for e in evals)
    assert rounds[1]["eval_pass_rate_in"] == rounds[0]["eval_pass_rate"]
    # lineage: which split version made which checkpoint, and how it scored
    lineage = rows(lake, """
        SELECT l.round, t.run_id, json_extract_string(t.config, '$.split') AS split,
               json_extract(t.config, '$.split_version')::INT AS version, t.parent_run_id, l.eval_pass_rate
        FROM loop_rounds l JOIN runs t ON t.run_id = l.train_run_ids ORDER BY l.round""")
    splits = [json.loads(r["splits"]) for r in rounds]
    assert [(x["split"], x["version"]) for x in lineage] == [
        (splits[0]["sft"]["name"], splits[0]["sft"]["version"]),
        (splits[1]["preference"]["name"], splits[1]["preference"]["version"])]
    assert {x["parent_run_id"] for x in lineage} == {"tiny"}
    curates = rows(lake, "SELECT run_id, parent_run_id FROM runs WHERE kind = 'curate' ORDER BY run_id")
    assert curates == [{"run_id": "tiny-r0-curate", "parent_run_id": "tiny"},
                       {"run_id": "tiny-r1-curate", "parent_run_id": "tiny"}]


def test_a_stopped_loop_continues_at_its_unfinished_stage(tmp_path, model, monkeypatch, capsys):
    import flows.training as training

    config = loop_config(tmp_path, model, rounds=2)
    real = training.train_and_record

    def stop_at_dpo(trainer, *args, **kwargs):
        if trainer == "dpo":
            raise KeyboardInterrupt
        return real(trainer, *args, **kwargs)

    monkeypatch.setattr(training, "train_and_record", stop_at_dpo)
    assert main(["loop", str(config)]) == 130
    capsys.readouterr()
    assert rows(Lake(tmp_path / "lake"), "SELECT status FROM runs WHERE kind = 'loop'") == [{"status": "interrupted"}]
    lake = Lake(tmp_path / "lake")
    assert [(r["round"], r["status"]) for r in rows(lake, "SELECT * FROM loop_rounds ORDER BY round")] == [
        (0, "completed"), (1, "curated")]
    before = rows(lake, "SELECT run_id, finished FROM runs WHERE kind IN ('curate', 'train') ORDER BY run_id")

    monkeypatch.setattr(training, "train_and_record", real)
    assert main(["loop", str(config)]) == 0
    err = capsys.readouterr().err
    assert "round 2/2 (curated)" in err and "round 1/2" not in err
    after = rows(lake, "SELECT run_id, finished FROM runs WHERE kind IN ('curate', 'train') ORDER BY run_id")
    assert [r for r in after if r["run_id"] != "tiny-r1-dpo"] == [r for r in before if r["run_id"] != "tiny-r1-dpo"]
    assert [r["status"] for r in rows(lake, "SELECT status FROM loop_rounds ORDER BY round")] == ["completed"] * 2

    # more rounds later: only the new one runs; other settings cannot change under the same name
    version = lake.latest_version()
    assert main(["loop", str(config), "--set", "eval.max_tokens=8"]) == 2
    assert "loop 'tiny' already ran" in capsys.readouterr().err and lake.latest_version() == version


def test_bad_eval_source_fails_before_anything_is_written(tmp_path, model, capsys):
    config = loop_config(tmp_path, model, rounds=1)
    (tmp_path / "eval.jsonl").write_text('{"prompt": "1 + 1?", "answer": "2"}\n{"prompt": \n')
    assert main(["loop", str(config)]) == 3
    err = capsys.readouterr().err
    assert "eval.jsonl:2: malformed JSON" in err
    assert not (tmp_path / "lake" / "catalog.ducklake").exists()


def test_a_round_trains_both_dmt_stages_in_turn(tmp_path, monkeypatch):
    """The loop trains a DMT split's stage 1, then stage 2 from stage 1's checkpoint; both runs are the round's."""
    import flows.training as training
    from flows.closed_loop import registered_split, train_round
    from flows.closed_loop_config import LoopConfig
    from schemas.split_registry import register_splits

    lake = Lake(tmp_path / "lake")
    rows = [{"example_id": f"e{i}", "prompt_id": f"p{i}", "origin": "gold",
             "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": str(i)}]}
            for i in range(4)]
    lake.commit({"sft_examples": rows}, run_id="c")
    version = register_splits(lake, {"tiny-r0-sft_stage1": ("sft", [r["example_id"] for r in rows[:2]]),
                                     "tiny-r0-sft_stage2": ("sft", [r["example_id"] for r in rows[2:]])}, run_id="c")
    summary_splits = {"tiny-r0-sft_stage1": (version, 2), "tiny-r0-sft_stage2": (version, 2)}
    assert registered_split(summary_splits, "tiny-r0-sft") == (version, 4)
    calls = []

    class Result:
        def __init__(self, run_id, out):
            self.run_id, self.checkpoint = run_id, out

    def fake_train(trainer, cfg, lake, *, parent=None, run_id=None, lineage=None):
        calls.append((cfg.split, cfg.model, run_id, parent))
        return Result(run_id, tmp_path / (cfg.out or "x")), True

    monkeypatch.setattr(training, "train_and_record", fake_train)
    cfg = LoopConfig(name="tiny", lake=str(lake.location), work_dir=tmp_path / "runs", rounds=1,
                     curate={"config": str(tmp_path / "c.yaml")},
                     eval={"sources": [{"type": "jsonl", "path": str(tmp_path / "e.jsonl")}]})
    splits = {"sft": {"name": "tiny-r0-sft", "version": version, "rows": 4}}
    checkpoint, run_ids = train_round(cfg, lake, 0, "base-model", splits, ["sft"], log=lambda *_: None)
    assert [c[0] for c in calls] == ["tiny-r0-sft_stage1", "tiny-r0-sft_stage2"]
    assert calls[0][1] == "base-model" and calls[1][1] == str((tmp_path / "runs" / "tiny-r0-sft-stage1").resolve())
    assert run_ids == ["tiny-r0-sft-stage1", "tiny-r0-sft"] and {c[3] for c in calls} == {"tiny"}
    assert checkpoint == str((tmp_path / "runs" / "tiny-r0-sft").resolve())
