"""A shared lake with its catalog in a real PostgreSQL server started for this test session.

Needs the PostgreSQL server binaries (Debian: `apt-get install -y postgresql`); skipped with
that hint when they are absent. As root the server runs as the `postgres` user.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from schemas.errors import LakeError
from schemas.lake import Lake

PASSWORD = "lake-pw"


def _postgres_bin() -> Path | None:
    """The folder holding initdb/pg_ctl/createdb: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    candidates = ([Path(on_path).resolve().parent] if on_path else []) + [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "createdb", "postgres")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server on a free localhost port with a password-protected `postgres` user."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (CI: apt-get install -y postgresql)")
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no `postgres` user to run the server as")
    home = Path(tempfile.mkdtemp(prefix="warmstart-pg-"))
    (home / "pw").write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        for path in (home, home / "pw"):
            os.chown(path, server_user.pw_uid, server_user.pw_gid)
    port, data = _free_port(), home / "data"
    run = lambda *cmd: subprocess.run(_as_server_user([str(bin_dir / cmd[0]), *cmd[1:]]),  # noqa: E731
                                      check=True, capture_output=True, timeout=120)
    run("initdb", "-D", str(data), "-U", "postgres", "--auth-host=scram-sha-256",
        "--auth-local=trust", f"--pwfile={home / 'pw'}")
    run("pg_ctl", "-D", str(data), "-l", str(home / "log"), "-w", "start",
        "-o", f"-p {port} -k {home} -h 127.0.0.1 -c fsync=off")
    try:
        createdb = lambda name: run("createdb", "-h", str(home), "-p", str(port), "-U", "postgres", name)  # noqa: E731
        createdb("lake")
        yield {"port": port, "createdb": createdb}
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_server, tmp_path_factory):
    files = tmp_path_factory.mktemp("shared-files")
    return f"postgres://postgres:{PASSWORD}@127.0.0.1:{pg_server['port']}/lake?data_path={files}"


def _skills(ids, name="arith") -> list[dict]:
    return [{"skill_id": i, "name": name, "description": "x" * 40, "origin": "test"} for i in ids]


def test_commit_upsert_and_time_travel_on_postgres(pg_url):
    lake = Lake(pg_url)
    assert not lake.exists()
    first = lake.commit({"skills": _skills(range(500))}, run_id="r1")
    assert lake.exists()
    second = lake.commit({"skills": _skills([0, 1, 1000], name="new"),
                          "train_metrics": [{"run_id": "r1", "step": 1, "metric": "loss", "value": 1.5}]},
                         run_id="r2")
    assert second == first + 1
    assert lake.query("SELECT count(*) AS n FROM skills").column("n").to_pylist() == [501]
    assert lake.query("SELECT count(*) AS n FROM skills WHERE name = 'new'").column("n").to_pylist() == [3]
    assert lake.read("skills", version=first).num_rows == 500
    assert lake.query("SELECT count(*) AS n FROM train_metrics", version=first).column("n").to_pylist() == [0]
    assert any(lake.data_path.rglob("*.parquet")), "data files go to the shared data_path"


def test_an_older_postgres_lake_gains_new_columns(pg_server, tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent))
    from lake_evolution import check_evolution

    pg_server["createdb"]("evolution")
    check_evolution(Lake(f"postgres://postgres:{PASSWORD}@127.0.0.1:{pg_server['port']}/evolution"
                         f"?data_path={tmp_path / 'files'}"), monkeypatch)


def test_two_hosts_write_one_lake(pg_url):
    """Two Lake objects (as on two hosts) committing at once: both land, nothing is lost."""
    hosts, errors = [Lake(pg_url), Lake(pg_url.replace("postgres://", "postgresql://"))], []
    hosts[0].ensure()
    start = hosts[0].latest_version()

    def write(lake, prefix):
        try:
            for round_ in range(3):
                lake.commit({"skills": _skills([f"{prefix}{round_}-{i}" for i in range(20)])}, run_id=prefix)
        except LakeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(lake, f"h{n}-")) for n, lake in enumerate(hosts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    ids = hosts[1].query("SELECT skill_id FROM skills WHERE skill_id LIKE 'h%'").column("skill_id")
    assert len(set(ids.to_pylist())) == 2 * 3 * 20
    assert hosts[1].latest_version() == start + 6


def test_read_only_query_on_postgres_refuses_delete(pg_url):
    lake = Lake(pg_url)
    lake.commit({"skills": _skills(["keep"])}, run_id="r3")
    latest = lake.latest_version()
    with pytest.raises(LakeError, match="read-only"):
        lake.query("DELETE FROM skills")
    assert lake.latest_version() == latest
    kept = lake.query("SELECT count(*) AS n FROM skills WHERE skill_id = 'keep'")
    assert kept.column("n").to_pylist() == [1]


def _fails_fast(url: str, limit_s: float = 8.0) -> str:
    started = time.monotonic()
    with pytest.raises(LakeError) as caught:
        Lake(url).latest_version()
    assert time.monotonic() - started < limit_s
    return str(caught.value)


def test_bad_password_is_a_fast_lake_error(pg_url):
    message = _fails_fast(pg_url.replace(f":{PASSWORD}@", ":wrong-pw@"))
    assert "password authentication failed" in message
    assert "wrong-pw" not in message and "cannot reach the lake catalog" in message


def test_missing_database_says_to_create_it(pg_url):
    message = _fails_fast(pg_url.replace("/lake?", "/nolake?"))
    assert 'database "nolake" does not exist' in message and "createdb" in message


def test_closed_port_is_a_fast_lake_error(tmp_path):
    message = _fails_fast(f"postgres://u:pw@127.0.0.1:{_free_port()}/lake?data_path={tmp_path}")
    assert "refused" in message.lower()


def test_silent_server_times_out_instead_of_hanging(tmp_path):
    """A port that accepts TCP but never answers: connect_timeout bounds the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = f"postgres://u:pw@127.0.0.1:{port}/lake?data_path={tmp_path}&connect_timeout=2"
        message = _fails_fast(url, limit_s=10.0)
    assert "timeout" in message.lower() or "timed out" in message.lower()
