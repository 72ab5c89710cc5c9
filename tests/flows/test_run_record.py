"""One run record for curate, train and loop: one status vocabulary, a run whose process died is
marked interrupted by the next command (its lock died with it), and `warmstart runs` lists them.
Each lake-level test runs on a local lake and on a real PostgreSQL catalog."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flows import run_record
from flows.cli import main
from flows.run_record import RunRecord, close_dead_runs, recorded_run
from schemas.errors import LakeError
from schemas.lake import Lake
from schemas.split_registry import register_split
from schemas.tables import TABLES

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["local", "postgres"])
def any_lake(request, tmp_path):
    if request.param == "local":
        return Lake(tmp_path / "lake")
    return Lake(request.getfixturevalue("new_pg_lake")())


def statuses(lake: Lake) -> dict[str, tuple]:
    rows = lake.query("SELECT run_id, status, detail FROM runs").to_pylist()
    return {r["run_id"]: (r["status"], r["detail"]) for r in rows}


def test_outcomes_share_one_vocabulary(any_lake):
    with recorded_run(any_lake, "ok", "train", "{}") as run:
        assert statuses(any_lake)["ok"] == ("running", "")
        run.detail = "/ckpt"
        run.tables["train_metrics"] = [{"run_id": "ok", "step": 1, "metric": "loss", "value": 0.5}]
    with pytest.raises(ValueError), recorded_run(any_lake, "bad", "curate", "{}"):
        raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt), recorded_run(any_lake, "stopped", "loop", "{}"):
        raise KeyboardInterrupt
    assert statuses(any_lake) == {"ok": ("completed", "/ckpt"), "bad": ("failed", "ValueError: boom"),
                                  "stopped": ("interrupted", "stopped by Ctrl-C (KeyboardInterrupt)")}
    assert any_lake.query("SELECT count(*) AS n FROM train_metrics").to_pylist() == [{"n": 1}]
    finished = any_lake.query("SELECT count(*) AS n FROM runs WHERE finished >= started").to_pylist()
    assert finished == [{"n": 3}]


HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from flows.run_record import recorded_run
    from schemas.lake import Lake

    with recorded_run(Lake(sys.argv[2]), "victim", "train", "{}", parent="p0"):
        print("running", flush=True)
        time.sleep(600)
""")


def test_a_killed_run_is_marked_interrupted_by_the_next_command(any_lake, capsys):
    # the child gets the masked URL: it reads the password from PGPASSWORD, as a Prefect worker does
    env = {**os.environ, "PGPASSWORD": any_lake.where.password or ""}
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(REPO_ROOT), str(any_lake.location)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "running", child.stderr.read()
        assert close_dead_runs(any_lake) == [], "a live run is left alone"
        assert statuses(any_lake)["victim"][0] == "running"
    finally:
        child.kill()  # SIGKILL: no outcome recorded
        child.communicate(timeout=30)
    assert statuses(any_lake)["victim"][0] == "running"
    assert main(["runs", "--lake", str(any_lake.location), "--format", "json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["run_id"], r["status"], r["parent"]) for r in listed] == [("victim", "interrupted", "p0")]
    assert "process ended without recording an outcome" in listed[0]["why"]


def test_a_run_id_cannot_run_twice_at_once(any_lake, monkeypatch):
    monkeypatch.setattr(run_record, "LIVE_WAIT_S", 0.5)
    with recorded_run(any_lake, "twin", "loop", "{}"):
        with pytest.raises(LakeError, match=r"run twin is already running \(pid \d+ on "):
            with recorded_run(Lake(any_lake.location), "twin", "loop", "{}"):
                pass
        assert close_dead_runs(any_lake) == []  # held by this process: alive
    assert statuses(any_lake)["twin"][0] == "completed"


def test_rows_of_the_older_vocabulary_are_migrated(lake):
    RunRecord(lake, "old", "train", "{}", None).write("failed", "interrupted")
    assert close_dead_runs(lake) == ["old"]
    assert statuses(lake)["old"] == ("interrupted", "stopped by Ctrl-C (KeyboardInterrupt)")


def test_runs_lists_status_duration_parent_and_what_each_produced(lake, capsys):
    with recorded_run(lake, "loop1", "loop", "{}"):
        with recorded_run(lake, "cur1", "curate", "{}", parent="loop1"):
            lake.commit({"sft_examples": [{"example_id": "e1", "prompt_id": "p1", "origin": "gold",
                                           "messages": [{"role": "user", "content": "q"}]}]}, run_id="cur1")
            register_split(lake, "warm", "sft", ["e1"], run_id="cur1")
        with recorded_run(lake, "tr1", "train", "{}", parent="loop1") as run:
            run.detail = "/ckpt/tr1"
        round_ = dict.fromkeys(TABLES["loop_rounds"].schema.names)
        lake.commit({"loop_rounds": [{**round_, "loop_id": "loop1", "round": 0, "status": "completed",
                                      "checkpoint": "/ckpt/tr1"}]}, run_id="loop1")
    with pytest.raises(RuntimeError), recorded_run(lake, "tr2", "train", "{}"):
        raise RuntimeError("out of memory")

    assert main(["runs", "--lake", str(lake.location), "--format", "json"]) == 0
    listed = {r["run_id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert listed["cur1"]["produced"].startswith("warm v") and listed["cur1"]["parent"] == "loop1"
    assert listed["tr1"]["produced"] == "/ckpt/tr1" and listed["tr1"]["status"] == "completed"
    assert listed["loop1"]["produced"] == "1 round(s), last checkpoint /ckpt/tr1"
    assert listed["tr2"]["why"] == "RuntimeError: out of memory" and listed["tr2"]["produced"] is None
    assert all(r["seconds"] >= 0 for r in listed.values())

    assert main(["runs", "--lake", str(lake.location), "--kind", "train", "--status", "failed", "--format", "json"]) == 0
    assert [json.loads(line)["run_id"] for line in capsys.readouterr().out.splitlines()] == ["tr2"]
    assert main(["runs", "--lake", str(lake.location), "--limit", "1"]) == 0
    shown = capsys.readouterr().out
    assert "duration" in shown and "tr2" in shown and "1 row(s)" in shown


def test_runs_on_a_missing_lake_is_one_clear_line(tmp_path, capsys):
    assert main(["runs", "--lake", str(tmp_path / "nolake")]) == 4
    err = capsys.readouterr().err
    assert err.startswith("error: no lake at") and err.count("\n") == 1
