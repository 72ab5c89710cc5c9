"""A shared lake with its catalog in a real PostgreSQL server started for this test session
(tests/conftest.py: skipped with a hint when the server binaries are absent)."""

import re
import socket
import threading
import time

import pytest

from schemas.errors import LakeError
from schemas.lake import Lake


@pytest.fixture(scope="module")
def pg_url(new_pg_lake):
    return new_pg_lake()


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


def test_bad_password_is_a_fast_lake_error(pg_url, pg_server):
    message = _fails_fast(pg_url.replace(f":{pg_server['password']}@", ":wrong-pw@"))
    assert "password authentication failed" in message
    assert "wrong-pw" not in message and "cannot reach the lake catalog" in message


def test_missing_database_says_to_create_it(pg_url):
    message = _fails_fast(re.sub(r"/lake\d+\?", "/nolake?", pg_url))
    assert 'database "nolake" does not exist' in message and "createdb" in message


def test_closed_port_is_a_fast_lake_error(tmp_path, closed_port):
    message = _fails_fast(f"postgres://u:pw@127.0.0.1:{closed_port}/lake?data_path={tmp_path}")
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
