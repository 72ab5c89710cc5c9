"""A lake whose catalog is a real PostgreSQL server, end to end through the CLI: a curate run killed
with kill -9 mid-generation and resumed (its shards staged under the data_path, its run lock in the
catalog), a second run that reuses everything, a training run and a loop recorded in the catalog,
the read commands, and a search of every file and output for the password that finds nothing.

The tests build on each other in file order (one lake, one scenario).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import yaml

from flows.cli import main
from schemas.lake import Lake

sys.path.insert(0, str(Path(__file__).parent))
from test_resume import rigged_model, rows_of, subprocess_env, write_config  # noqa: E402

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
N_PROMPTS = 12
FAST = {"max_steps": 2, "batch_size": 2, "device": "cpu", "progress": False, "save_interval": 0}


@pytest.fixture(scope="module")
def pg(new_pg_lake, tmp_path_factory):
    """The lake URL (password included: the CLI gets it with --lake, no file holds it), a curate
    config over N_PROMPTS prompts, the rigged model, and everything the CLI printed."""
    folder = tmp_path_factory.mktemp("pg-e2e")
    model = rigged_model(folder / "rigged-llama")
    config = write_config(folder / "job", folder / "unused-lake", model, n=N_PROMPTS)
    url = new_pg_lake()
    return SimpleNamespace(url=url, lake=Lake(url), folder=folder, model=model, config=config, printed=[],
                           started=time.time())


def cli(pg, capsys, *argv) -> tuple[int, str, str]:
    """Run `warmstart ARGV` in-process; keep what it printed for the password search."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    pg.printed += [out, err]
    return code, out, err


def staged_parts(lake: Lake) -> int:
    return len(list((lake.data_path / ".warmstart" / "staging").glob("*/part-*.parquet")))


def curate_runs(lake: Lake) -> list[dict]:
    return lake.query("SELECT run_id, status, detail FROM runs WHERE kind = 'curate' AND parent_run_id IS NULL "
                      "ORDER BY started").to_pylist()


def test_kill_9_mid_generation_then_resume(pg, capsys):
    log_path = pg.folder / "killed-run.log"
    with open(log_path, "wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(pg.config), "--lake", pg.url],
                                 stdout=log, stderr=log, env=subprocess_env(pg.folder / "prefect-child"),
                                 cwd=REPO_ROOT, start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            while staged_parts(pg.lake) < 3 and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert child.poll() is None, f"run ended before the kill: {log_path.read_text()[-2000:]}"
            # the run lock lives in the catalog: a second run is refused at once, naming the holder
            code, _, err = cli(pg, capsys, "run", pg.config, "--lake", pg.url)
            assert code == 4 and f"another warmstart run (pid {child.pid} on " in err, err
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
    staged = staged_parts(pg.lake)
    assert 0 < staged < N_PROMPTS, "killed mid-generation, with shards staged under the data_path"
    assert pg.lake.query("SELECT count(*) AS n FROM generations").to_pylist() == [{"n": 0}]
    assert [r["status"] for r in curate_runs(pg.lake)] == ["running"]

    code, _, err = cli(pg, capsys, "run", pg.config, "--lake", pg.url)  # the lock died with the process
    assert code == 0, err
    killed, resumed = curate_runs(pg.lake)
    assert (killed["status"], resumed["status"]) == ("interrupted", "completed")
    assert json.loads(resumed["detail"])["counts"]["generated_now"] == (N_PROMPTS - staged) * 4
    assert staged_parts(pg.lake) == 0
    assert pg.lake.query("SELECT count(DISTINCT generation_id) AS n FROM generations").to_pylist() == [
        {"n": N_PROMPTS * 4}]


def test_a_second_run_reuses_everything(pg, capsys):
    before = rows_of(pg.lake)
    code, _, err = cli(pg, capsys, "run", pg.config, "--lake", pg.url)
    assert code == 0, err
    last = curate_runs(pg.lake)[-1]
    assert last["status"] == "completed" and json.loads(last["detail"])["counts"]["generated_now"] == 0
    assert rows_of(pg.lake) == before


def test_train_and_loop_are_recorded_in_the_catalog(pg, capsys):
    code, _, err = cli(pg, capsys, "train", "sft", "--split", "sft", "--lake", pg.url, "--model", pg.model,
                       "--out", pg.folder / "ckpt", "--max-steps", 2, "--batch-size", 2, "--device", "cpu",
                       "--set", "progress=false")
    assert code == 0, err
    with open(pg.folder / "eval.jsonl", "w") as out:
        out.write(json.dumps({"prompt": "What is 7 * 2 / 2?", "answer": "7"}) + "\n")
    loop = {"name": "pgloop", "work_dir": str(pg.folder / "loop"), "rounds": 1, "curate": {"config": str(pg.config)},
            "train": {"first": ["sft"], "options": {"sft": FAST}},
            "eval": {"sources": [{"type": "jsonl", "path": str(pg.folder / "eval.jsonl"), "verifier": "exact"}],
                     "max_tokens": 4}}
    (pg.folder / "loop.yaml").write_text(yaml.safe_dump(loop))
    code, _, err = cli(pg, capsys, "loop", pg.folder / "loop.yaml", "--lake", pg.url)
    assert code == 0, err

    code, out, _ = cli(pg, capsys, "runs", "--lake", pg.url, "--format", "json", "--limit", 50)
    runs = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {r["status"] for r in runs} == {"completed", "interrupted"}
    by_kind = {kind: [r for r in runs if r["kind"] == kind] for kind in ("curate", "train", "loop")}
    assert len(by_kind["curate"]) == 4 and len(by_kind["train"]) == 2 and len(by_kind["loop"]) == 1
    trained = [r for r in by_kind["train"] if r["parent"] is None][0]
    assert trained["produced"] == str((pg.folder / "ckpt").resolve())
    assert by_kind["loop"][0]["produced"].startswith("1 round(s), last checkpoint ")
    assert {r["parent"] for r in runs if r["run_id"].startswith("pgloop-")} == {"pgloop"}


def test_read_commands_work_on_the_shared_lake(pg, capsys):
    code, out, _ = cli(pg, capsys, "sql", "SELECT count(*) AS n FROM prompts", "--lake", pg.url, "--format", "json")
    assert code == 0 and json.loads(out)["n"] >= N_PROMPTS
    code, out, _ = cli(pg, capsys, "splits", "--lake", pg.url, "--format", "json")
    assert code == 0 and any(json.loads(line)["split_name"] == "sft" for line in out.splitlines())
    code, _, err = cli(pg, capsys, "export", "sft", "--to", pg.folder / "export", "--lake", pg.url)
    assert code == 0, err
    assert "***" in json.loads((pg.folder / "export" / "sft.manifest.json").read_text())["lake"]
    code, _, err = cli(pg, capsys, "report", "--lake", pg.url, "--out", pg.folder / "report")
    assert code == 0, err


def files_holding(folder: Path, secret: bytes, *, since: float = 0.0) -> list[str]:
    """Regular files under `folder` (symlinks not followed, .git skipped) whose bytes hold `secret`."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            path = Path(root, name)
            if secret in name.encode() or secret in root.encode():
                found.append(str(path))
            elif path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since \
                    and secret in path.read_bytes():
                found.append(str(path))
    return found


def test_the_password_is_nowhere(pg, pg_server, capsys):
    from prefect.settings import get_current_settings

    secret = pg_server["password"].encode()
    assert secret in pg.url.encode()  # the search looks for the right thing
    places = {"the test's files, checkpoints, export, report, logs": pg.folder,
              "the lake's data_path": pg.lake.data_path,
              "the Prefect home": Path(get_current_settings().home),
              "the working tree": REPO_ROOT}
    for what, folder in places.items():
        since = pg.started if folder == REPO_ROOT else 0.0
        assert files_holding(folder, secret, since=since) == [], f"password found in {what}"
    assert not [text for text in pg.printed if pg_server["password"] in text], "password printed"
    catalog = pg_server["dump"](urlsplit(pg.url).path.lstrip("/"))
    assert "ducklake_snapshot" in catalog and pg_server["password"] not in catalog, "password in the catalog"
