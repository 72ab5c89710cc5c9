"""Scheduling on a real Prefect server: a scheduled curate run lands in the lake, a new split
version starts a training run, and bad input fails within seconds writing nothing."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.cli import main
from flows.server import start_server
from schemas.errors import ConfigError
from schemas.lake import Lake

sys.path.insert(0, str(Path(__file__).parent))
from test_resume import rigged_model, write_config  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_api() -> str:
    return f"http://127.0.0.1:{free_port()}/api"


def quick(argv: list[str]) -> tuple[int, float]:
    started = time.monotonic()
    return main(argv), time.monotonic() - started


def test_bad_cron_is_refused_before_anything_is_contacted(tmp_path, capsys):
    code, seconds = quick(["schedule", str(tmp_path / "x.yaml"), "--cron", "61 * * * *", "--api", dead_api()])
    assert code == 2 and seconds < 5
    err = capsys.readouterr().err
    assert "--cron '61 * * * *'" in err and "5 fields" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["schedule", "--list"], ["schedule", "--serve"], ["schedule", "--delete", "x"],
                                  ["schedule", "--train", "sft", "--split", "s", "--on-new-version"]])
def test_unreachable_server_is_a_clear_error_within_seconds(argv, capsys, tmp_path):
    code, seconds = quick(argv + ["--api", dead_api(), "--lake", str(tmp_path / "lake")]
                          if "--train" in argv else argv + ["--api", dead_api()])
    assert code == 2 and seconds < 10
    assert "no Prefect server answers at http://127.0.0.1:" in capsys.readouterr().err
    assert not (tmp_path / "lake").exists()


def test_bad_train_flags_are_refused_before_registering(capsys):
    code, _ = quick(["schedule", "--train", "sft", "--split", "s", "--train-args", "--no-such-flag 1",
                     "--api", dead_api()])
    assert code == 2 and "bad train arguments" in capsys.readouterr().err


def test_server_refuses_a_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match="already in use"):
            start_server(port=busy.getsockname()[1], timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real Prefect server for the module, with its own database and a fast scheduler."""
    home = tmp_path_factory.mktemp("prefect-server")
    srv = start_server(port=free_port(), home=home, scheduler_loop_s=2, log=open(home / "server.log", "wb"))
    yield srv.api
    srv.stop()


@pytest.fixture(scope="module")
def worker(server, tmp_path_factory):
    """`warmstart schedule --serve` in its own process group, ended with all its flow runs."""
    folder = tmp_path_factory.mktemp("worker")
    log = open(folder / "worker.log", "wb")
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "INFO", "PREFECT_WORKER_PREFETCH_SECONDS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "schedule", "--serve", "--poll", "2",
                             "--api", server], cwd=folder, stdout=log, stderr=log, env=env, start_new_session=True)
    yield folder / "worker.log"
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return rigged_model(tmp_path_factory.mktemp("models") / "rigged-llama")


def wait_for(predicate, timeout: float, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"timed out; worker log tail:\n{log.read_text(errors='replace')[-3000:]}")


def lake_rows(lake: Lake, sql: str) -> list[dict]:
    return lake.query(sql).to_pylist() if lake.exists() else []


def prefect_client(api: str):
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}):
        return get_client(sync_client=True)


def flow_runs_of(api: str, deployment: str) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with prefect_client(api) as client:
        return client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])))


@pytest.mark.slow
def test_scheduled_curation_runs_and_lands_in_the_lake(server, worker, model, tmp_path, monkeypatch, capsys):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    monkeypatch.chdir(tmp_path)
    lake = Lake(tmp_path / "lake")
    config = write_config(tmp_path / "job", tmp_path / "lake", model, n=6)
    assert main(["schedule", str(config), "--interval", "5", "--name", "every5s", "--api", server]) == 0
    assert main(["schedule", "--list", "--api", server]) == 0
    listed = capsys.readouterr().out
    assert "warmstart-curate/every5s" in listed and "every 5 s" in listed

    done = wait_for(lambda: lake_rows(lake, "SELECT run_id FROM runs WHERE kind = 'curate' AND status = 'completed'"),
                    300, worker)
    assert lake_rows(lake, "SELECT count(*) AS n FROM generations") == [{"n": 24}]
    completed = wait_for(lambda: [r for r in flow_runs_of(server, "every5s") if r.state and r.state.is_completed()],
                         60, worker)
    assert done[0]["run_id"] in {r.id.hex[-12:] for r in completed}, "lake run id = flow run id"
    with prefect_client(server) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["curate-summary"])))
        tasks = client.read_task_runs()
    assert {row["stage"] for row in json.loads(artifacts[0].data)} >= {"sources", "generate", "verify", "rank", "splits"}
    assert {"sources", "generate-verify", "splits"} <= {t.name.rsplit("-", 1)[0] for t in tasks}

    assert main(["schedule", "--delete", "every5s", "--api", server]) == 0
    assert capsys.readouterr().out.strip() == "deleted warmstart-curate/every5s"
    assert main(["schedule", "--list", "--api", server]) == 0
    assert "every5s" not in capsys.readouterr().out
    waiting = [r for r in flow_runs_of(server, "every5s") if r.state and r.state.is_scheduled()]
    assert waiting == [], "deleting a deployment drops its runs that had not started"


@pytest.mark.slow
def test_new_split_version_starts_a_training_run_that_records_it(server, worker, model, tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parents[1] / "trainers"))
    from tiny_models import add_split, sft_rows

    monkeypatch.chdir(tmp_path)
    lake = Lake(tmp_path / "lake")
    first = add_split(lake, "warm", "sft", sft_rows(4))
    assert main(["schedule", "--train", "sft", "--split", "warm", "--on-new-version", "--lake", str(lake.location),
                 "--train-args", f"--model {model} --max-steps 1 --device cpu --set progress=false", "--api", server]) == 0
    second = add_split(lake, "warm", "sft", sft_rows(6))
    assert second > first

    train_sql = ("SELECT run_id, detail, config, parent_run_id FROM runs WHERE kind = 'train' "
                 "AND status = 'completed'")
    runs = wait_for(lambda: lake_rows(lake, train_sql), 300, worker)
    lineage = json.loads(runs[0]["config"])
    assert (lineage["split"], lineage["split_version"]) == ("warm", second), "trained on the new version"
    assert (tmp_path / runs[0]["detail"] / "config.json").exists(), "checkpoint saved where the run says"
    flow_run_ids = {r.id.hex[-12:] for r in flow_runs_of(server, "sft-warm")}
    assert runs[0]["parent_run_id"] in flow_run_ids, "the lake's train run names its Prefect flow run"
    time.sleep(5)  # two more trigger polls: the version that existed at registration starts nothing
    assert len(lake_rows(lake, "SELECT run_id FROM runs WHERE kind = 'train'")) == 1


@pytest.mark.slow
def test_train_via_prefect_runs_on_the_worker(server, worker, model, tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parents[1] / "trainers"))
    from tiny_models import add_split, sft_rows

    monkeypatch.chdir(tmp_path)
    lake = Lake(tmp_path / "lake")
    version = add_split(lake, "warm", "sft", sft_rows(4))
    code = main(["train", "sft", "--split", "warm", "--lake", str(lake.location), "--via-prefect", "--api", server,
                 "--model", str(model), "--max-steps", "1", "--device", "cpu", "--set", "progress=false"])
    assert code == 0
    rows = lake_rows(lake, "SELECT json_extract(config, '$.split_version')::INT AS v FROM runs WHERE kind = 'train'")
    assert rows == [{"v": version}]


@pytest.mark.slow
def test_server_command_says_where_it_is_and_stops_cleanly(tmp_path):
    from flows.server import is_healthy

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "server", "--port", str(port), "--home",
                             str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert f"UI http://127.0.0.1:{port}  API http://127.0.0.1:{port}/api" in line
        assert is_healthy(f"http://127.0.0.1:{port}/api")
        from urllib.request import urlopen

        with urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert b"<html" in page.read(2000).lower(), "the UI is served"
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        assert not is_healthy(f"http://127.0.0.1:{port}/api", timeout=1), "the server child stopped too"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
