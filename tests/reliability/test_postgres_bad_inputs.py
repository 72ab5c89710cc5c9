"""Bad PostgreSQL lake URLs through `warmstart run` (the command that writes): a wrong password, an
unreachable server, no data_path, a data_path missing on this host, a data_path another lake uses.
Each is one line within seconds, the password masked, a non-zero exit, and nothing written: not
the data_path, not the catalog database, not the working folder."""

import os
import re
import time
from pathlib import Path

import psycopg
import pytest

from flows.cli import main
from schemas.lake import Lake


def tree(folder: Path) -> list[tuple[str, int]]:
    """Every file and folder under `folder`, with sizes."""
    return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else -1) for p in folder.rglob("*"))


def catalog_tables(url: str) -> int:
    """How many tables the lake's database holds (a catalog, once created, holds DuckLake's)."""
    where = Lake(url).where
    with psycopg.connect(where.conninfo) as con:
        return con.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]


@pytest.fixture
def job(tmp_path):
    """A curate config over one prompt, with a model folder good enough to pass the model check;
    `warmstart run` reaches the lake only after both are checked."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "What is 2 + 2?", "answer": "4"}\n')
    config = tmp_path / "job.yaml"
    config.write_text(f"model: {tmp_path / 'model'}\nbackend: transformers\ndecontam: null\n"
                      f"sources: [{{type: jsonl, path: {tmp_path / 'prompts.jsonl'}}}]\n")
    return config


def refused(job: Path, url: str, code: int, culprit: str, capsys, secrets: tuple[str, ...] = ()) -> str:
    """`warmstart run JOB --lake URL`: exit `code`, one line naming the culprit, fast, nothing written."""
    watched = [job.parent] + ([Path(url.split("data_path=")[1].split("&")[0])] if "data_path=" in url else [])
    before = [tree(folder) if folder.exists() else None for folder in watched]
    started = time.monotonic()
    assert main(["run", str(job), "--lake", url]) == code
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and culprit in err, err
    assert not [s for s in secrets if s in err], err
    assert [tree(folder) if folder.exists() else None for folder in watched] == before
    return err


def test_wrong_password(job, new_pg_lake, pg_server, capsys):
    url = new_pg_lake().replace(pg_server["password"], "wrong-pw")
    err = refused(job, url, 4, "password authentication failed", capsys, (pg_server["password"], "wrong-pw"))
    assert "postgres:***@" in err
    assert catalog_tables(url.replace("wrong-pw", pg_server["password"])) == 0


def test_unreachable_server(job, tmp_path, closed_port, capsys):
    url = f"postgres://u:hush-pw@127.0.0.1:{closed_port}/lake?data_path={tmp_path / 'files'}"
    refused(job, url, 4, "refused", capsys, ("hush-pw",))
    assert not (tmp_path / "files").exists()


def test_no_data_path(job, new_pg_lake, pg_server, capsys):
    url = new_pg_lake().split("?")[0]
    refused(job, url, 2, "needs ?data_path=", capsys, (pg_server["password"],))


def test_data_path_missing_on_this_host(job, new_pg_lake, pg_server, tmp_path, capsys):
    url = re.sub(r"data_path=[^&]*", f"data_path={tmp_path / 'not-mounted'}", new_pg_lake())
    refused(job, url, 4, "is not a folder on this host", capsys, (pg_server["password"],))
    assert not (tmp_path / "not-mounted").exists() and catalog_tables(url) == 0


def test_data_path_of_another_postgres_lake(job, new_pg_lake, pg_server, capsys):
    first = Lake(new_pg_lake())
    first.ensure()  # created, no data yet: the data_path holds only its marker
    url = re.sub(r"data_path=[^&]*", f"data_path={first.data_path}", new_pg_lake())
    err = refused(job, url, 4, "already belongs to the lake with catalog postgres://127.0.0.1:", capsys,
                  (pg_server["password"],))
    assert re.search(r"catalog postgres://127\.0\.0\.1:\d+/lake\d+;", err)
    assert catalog_tables(url) == 0


def test_data_path_of_a_local_lake(job, new_pg_lake, pg_server, tmp_path, capsys):
    local = Lake(tmp_path / "local")
    local.commit({"skills": [{"skill_id": "s", "name": "n", "description": "d", "origin": "o"}]}, run_id="r")
    url = re.sub(r"data_path=[^&]*", f"data_path={local.data_path}", new_pg_lake())
    refused(job, url, 4, "is not empty", capsys, (pg_server["password"],))
    assert catalog_tables(url) == 0


def test_read_commands_fail_the_same_way(new_pg_lake, pg_server, capsys):
    url = new_pg_lake().replace(pg_server["password"], "wrong-pw")
    for argv in (["sql", "SELECT 1"], ["runs"], ["splits"]):
        assert main([*argv, "--lake", url]) == 4
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "password authentication failed" in err and "wrong-pw" not in err, err


def test_the_password_can_come_from_the_environment(new_pg_lake, pg_server, monkeypatch, capsys):
    """No password in the URL (a worker, a shared config): libpq reads PGPASSWORD."""
    with_password = new_pg_lake()
    Lake(with_password).ensure()
    url = with_password.replace(f":{pg_server['password']}@", "@")
    monkeypatch.setitem(os.environ, "PGPASSWORD", pg_server["password"])
    assert main(["runs", "--lake", url, "--format", "json"]) == 0
    assert capsys.readouterr().out == ""
