"""The local DuckLake lake: one snapshot per commit, upserts by key, time travel, read-only SQL."""

import sys
from pathlib import Path

import pyarrow as pa
import pytest

from schemas.errors import LakeError
from schemas.lake import Lake

sys.path.insert(0, str(Path(__file__).parent))  # lake_evolution, shared with the PostgreSQL tests


def _skill(skill_id: str, name: str = "arith") -> dict:
    return {"skill_id": skill_id, "name": name, "description": f"{name} skill", "origin": "test"}


def _metric(step: int, value: float) -> dict:
    return {"run_id": "r1", "step": step, "metric": "loss", "value": value}


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """One lake holding skill 'a', shared by tests that must leave it unchanged."""
    shared = Lake(tmp_path_factory.mktemp("shared") / "lake")
    shared.commit({"skills": [_skill("a")]}, run_id="r1")
    return shared


def test_commit_of_several_tables_is_one_snapshot(lake):
    first = lake.commit({"skills": [_skill("a")]}, run_id="r1")
    before = lake.snapshots().num_rows
    second = lake.commit({"skills": [_skill("b")], "train_metrics": [_metric(1, 0.5), _metric(2, 0.4)]},
                         run_id="r1")
    assert second == first + 1
    assert lake.snapshots().num_rows == before + 1
    assert lake.latest_version() == second
    assert lake.query("SELECT count(*) AS n FROM train_metrics").column("n").to_pylist() == [2]


def test_upsert_by_key_replaces_instead_of_duplicating(lake):
    lake.commit({"skills": [_skill("a", "old"), _skill("b")]}, run_id="r1")
    lake.commit({"skills": [_skill("a", "new"), _skill("c")]}, run_id="r2")
    rows = lake.query("SELECT skill_id, name, run_id FROM skills ORDER BY skill_id").to_pylist()
    assert [r["skill_id"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["name"] == "new" and rows[0]["run_id"] == "r2"


def test_duplicate_keys_within_one_commit_keep_one_row(lake):
    lake.commit({"skills": [_skill("a", "x"), _skill("a", "x")]}, run_id="r1")
    assert lake.read("skills").num_rows == 1


def test_time_travel_reads_an_old_snapshot(lake):
    old = lake.commit({"skills": [_skill("a", "old")]}, run_id="r1")
    lake.commit({"skills": [_skill("a", "new"), _skill("b")]}, run_id="r2")
    assert lake.query("SELECT name FROM skills", version=old).column("name").to_pylist() == ["old"]
    assert lake.read("skills", version=old).num_rows == 1
    assert lake.read("skills").num_rows == 2


def test_unknown_version_is_a_lake_error(lake):
    latest = lake.commit({"skills": [_skill("a")]}, run_id="r1")
    with pytest.raises(LakeError, match="snapshot"):
        lake.query("SELECT * FROM skills", version=latest + 50)


@pytest.mark.parametrize("sql", [
    "DELETE FROM skills",
    "DROP TABLE skills",
    "UPDATE skills SET name = 'x'",
    "DELETE FROM __ducklake_metadata_lake.ducklake_snapshot",
])
def test_read_only_query_refuses_changes(filled, sql):
    latest = filled.latest_version()
    with pytest.raises(LakeError, match="read-only"):
        filled.query(sql)
    assert filled.latest_version() == latest
    assert filled.read("skills").num_rows == 1


@pytest.mark.parametrize("statement", [
    "COPY skills TO '{out}/leak.csv'",
    "ATTACH '{out}/other.duckdb' AS other",
    "SELECT * FROM read_csv('{out}/leak.csv')",
])
def test_read_only_query_cannot_reach_outside_files(filled, tmp_path, statement):
    latest = filled.latest_version()
    if "read_csv" in statement:
        (tmp_path / "leak.csv").write_text("a\n1\n")
    with pytest.raises(LakeError, match="read-only|outside the lake"):
        filled.query(statement.format(out=tmp_path))
    assert filled.latest_version() == latest
    assert not (tmp_path / "other.duckdb").exists()
    if "COPY" in statement:
        assert not (tmp_path / "leak.csv").exists()


def test_read_only_query_cannot_unlock_its_settings(filled):
    with pytest.raises(LakeError, match="read-only|locked"):
        filled.query("SET enable_external_access = true")
    assert filled.query("SELECT count(*) AS n FROM skills").column("n").to_pylist() == [1]


def test_write_query_changes_the_lake(lake):
    before = lake.commit({"skills": [_skill("a"), _skill("b")]}, run_id="r1")
    lake.query("DELETE FROM skills WHERE skill_id = 'a'", write=True)
    assert lake.latest_version() == before + 1
    assert lake.read("skills").column("skill_id").to_pylist() == ["b"]


@pytest.mark.parametrize("sql", ["SELEC 1", "SELECT no_such_column FROM skills", "SELECT * FROM nope"])
def test_bad_sql_is_a_lake_error(filled, sql):
    with pytest.raises(LakeError, match="SQL error"):
        filled.query(sql)


def test_reading_a_missing_lake_is_a_lake_error(tmp_path):
    empty = Lake(tmp_path / "nowhere")
    assert not empty.exists()
    assert empty.latest_version() is None
    with pytest.raises(LakeError, match="no lake at"):
        empty.query("SELECT 1")


def test_bad_rows_write_nothing(lake):
    latest = lake.commit({"skills": [_skill("a")]}, run_id="r1")
    with pytest.raises(LakeError, match="skill_id"):
        lake.commit({"skills": [{"skill_id": None, "name": "x", "description": "", "origin": ""}]})
    with pytest.raises(LakeError, match="missing column"):
        lake.commit({"skills": pa.table({"skill_id": ["z"]})}, run_id="r1")
    assert lake.latest_version() == latest
    assert lake.read("skills").num_rows == 1


def test_ensure_creates_every_table_once(lake):
    lake.ensure()
    version = lake.latest_version()
    lake.ensure()
    assert lake.latest_version() == version
    assert lake.read("prompts").num_rows == 0
    assert lake.catalog.exists() and lake.data_path.is_dir()


def test_query_many_answers_each_query_in_order(filled):
    counts, names = filled.query_many(["SELECT count(*) AS n FROM skills", "SELECT name FROM skills"])
    assert counts.column("n").to_pylist() == [1] and names.column("name").to_pylist() == ["arith"]


def test_query_many_refuses_a_change_hidden_among_reads(filled):
    latest = filled.latest_version()
    with pytest.raises(LakeError, match="read-only"):
        filled.query_many(["SELECT 1", "DELETE FROM skills"])
    assert filled.latest_version() == latest and filled.read("skills").num_rows == 1


def test_an_older_lake_gains_new_columns_and_keeps_its_rows(lake, monkeypatch):
    from lake_evolution import check_evolution

    check_evolution(lake, monkeypatch)
