"""Read-only SQL (Lake.query without write=True) cannot change the lake or touch anything outside it.

Each refused statement must raise LakeError with a message that says why, leave the snapshot
version unchanged (every change to a DuckLake table makes a snapshot) and create no file, inside
the lake or out.
"""

from pathlib import Path

import pytest

from schemas.errors import LakeError
from schemas.lake import Lake
from schemas.tables import TABLES

READ_ONLY = "opened read-only; pass --write"
OUTSIDE = "may not reach files or databases outside the lake"


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    """A lake with inlined rows (one small commit) and Parquet files (three larger ones)."""
    lake = Lake(tmp_path_factory.mktemp("secure") / "lake")
    lake.commit({"prompts": [{"prompt_id": "p1", "source": "s", "task": "t", "prompt": "2+2?",
                              "answer": "4", "verifier": "exact", "metadata": "{}",
                              "split_guard": "train", "run_id": "r0"}]})
    for run in range(3):
        lake.commit({"train_metrics": [{"run_id": f"r{run}", "step": step, "metric": "loss",
                                        "value": 1.0} for step in range(3000)]})
    return lake


@pytest.fixture(scope="module")
def setup_version(lake) -> int:
    """The snapshot every refused statement must leave in place."""
    return lake.latest_version()


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A directory next to the lake holding a file that read-only SQL must not read."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.csv").write_text("a,b\n1,2\n")
    return folder


def _files_under(*folders: Path) -> set[Path]:
    return {p for folder in folders for p in folder.rglob("*")}


def _refused(lake: Lake, outside: Path, version: int, sql: str, message: str) -> None:
    sql = sql.replace("{lake}", str(lake.location)).replace("{outside}", str(outside))
    files = _files_under(Path(lake.location), outside)
    with pytest.raises(LakeError, match=message):
        lake.query(sql)
    assert lake.latest_version() == version
    assert _files_under(Path(lake.location), outside) == files


WRITES = [
    "DELETE FROM train_metrics",
    "INSERT INTO train_metrics VALUES ('x', 1, 'loss', 0.5)",
    "UPDATE train_metrics SET value = 2",
    "DROP TABLE train_metrics",
    "CREATE TABLE evil (a INTEGER)",
    "CREATE TEMP TABLE scratch AS SELECT 1",
    "SELECT 1; DELETE FROM train_metrics",
    "BEGIN; DELETE FROM train_metrics; COMMIT",
    "DELETE FROM __ducklake_metadata_lake.ducklake_snapshot",
]


@pytest.mark.parametrize("sql", WRITES)
def test_statements_that_change_tables_are_refused(lake, outside, setup_version, sql):
    _refused(lake, outside, setup_version, sql, READ_ONLY)


FILES = [
    ("COPY train_metrics TO '{outside}/out.csv'", READ_ONLY),
    ("COPY train_metrics TO '{lake}/files/out.parquet'", READ_ONLY),  # inside the lake
    ("COPY train_metrics FROM '{outside}/secret.csv'", READ_ONLY),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{lake}/explained.csv'", READ_ONLY),
    ("EXPORT DATABASE '{lake}/exported'", READ_ONLY),
    ("IMPORT DATABASE '{outside}'", OUTSIDE),
    ("SELECT * FROM read_csv('{outside}/secret.csv')", OUTSIDE),
    ("SELECT * FROM read_text('/etc/hostname')", OUTSIDE),
    ("SELECT * FROM glob('/etc/*')", OUTSIDE),
]


@pytest.mark.parametrize(("sql", "message"), FILES)
def test_files_cannot_be_written_or_read_outside_the_lake(lake, outside, setup_version, sql, message):
    _refused(lake, outside, setup_version, sql, message)


DATABASES = [
    "ATTACH '{outside}/other.duckdb' AS other",
    "ATTACH '{lake}/inside.duckdb' AS inside",
    "ATTACH ':memory:' AS scratch",
    "DETACH lake",
    "INSTALL httpfs",
    "LOAD httpfs",
]


@pytest.mark.parametrize("sql", DATABASES)
def test_other_databases_and_extensions_are_refused(lake, outside, setup_version, sql):
    _refused(lake, outside, setup_version, sql, READ_ONLY)


SETTINGS = [
    "SET enable_external_access = true",
    "SET GLOBAL enable_external_access = true",
    "SET lock_configuration = false",
    "SET allowed_directories = ['/']",
    "PRAGMA enable_profiling",
    "PRAGMA memory_limit = '1GB'",
    "PREPARE q AS SELECT 1",
]


@pytest.mark.parametrize("sql", SETTINGS)
def test_settings_cannot_be_changed(lake, outside, setup_version, sql):
    _refused(lake, outside, setup_version, sql, READ_ONLY)


def test_lock_down_holds_without_the_statement_check(lake):
    """Behind the statement check, the connection itself is locked: no outside access, no changes."""
    row = lake.query("SELECT current_setting('enable_external_access') AS external, "
                     "current_setting('lock_configuration') AS locked, "
                     "current_setting('allowed_directories') AS allowed").to_pylist()[0]
    assert row["external"] is False and row["locked"] is True
    lake_dir = str(Path(lake.location).resolve()) + "/"
    assert lake_dir in row["allowed"]
    assert all(d == lake_dir or d.endswith("/.tmp/") for d in row["allowed"]), row["allowed"]


WRITER_FUNCTIONS = [
    ("CALL ducklake_merge_adjacent_files('lake')", "ducklake_merge_adjacent_files"),
    ("SELECT * FROM \"DuckLake_Merge_Adjacent_Files\"('lake')", "ducklake_merge_adjacent_files"),
    ("CALL ducklake_expire_snapshots('lake', older_than => now())", "ducklake_expire_snapshots"),
    ("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)", "ducklake_cleanup_old_files"),
    ("CALL ducklake_delete_orphaned_files('lake', cleanup_all => true)",
     "ducklake_delete_orphaned_files"),
    ("CALL ducklake_set_option('lake', 'parquet_compression', 'zstd')", "ducklake_set_option"),
    ("CALL enable_logging(storage => 'file')", "enable_logging"),
    ("SELECT * FROM query('SELECT * FROM ducklake_' || 'merge_adjacent_files(''lake'')')", "query"),
    ("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
     "json_execute_serialized_sql"),
    ("CALL postgres_execute('__ducklake_metadata_lake', 'DELETE FROM ducklake_snapshot')",
     "postgres_execute"),
]


@pytest.mark.parametrize(("sql", "function"), WRITER_FUNCTIONS)
def test_calls_that_write_are_refused(lake, outside, setup_version, sql, function):
    _refused(lake, outside, setup_version, sql, f"may not call {function}")


@pytest.mark.parametrize("sql", ["CHECKPOINT", "EXPLAIN (FORMAT json) SELECT 1", "PIVOT prompts ON task"])
def test_statements_the_check_cannot_read_fail_closed(lake, outside, setup_version, sql):
    _refused(lake, outside, setup_version, sql, READ_ONLY)


def test_sql_that_does_not_parse_is_a_lake_error(lake, outside, setup_version):
    _refused(lake, outside, setup_version, "SELEC 1", "SQL error: Parser Error")


READS = [
    ("SELECT count(*) FROM train_metrics", 1),
    ("FROM prompts", 1),
    ("WITH t AS (SELECT run_id FROM train_metrics) SELECT DISTINCT run_id FROM t", 3),
    ("SELECT count(*) FROM train_metrics AT (VERSION => 3)", 1),
    ("SELECT * FROM ducklake_snapshots('lake')", 5),
    ("CALL ducklake_snapshots('lake')", 5),
    ("SHOW TABLES", len(TABLES)),
    ("DESCRIBE prompts", 9),
    ("PRAGMA table_info('prompts')", 9),
    ("SUMMARIZE train_metrics", 4),
    ("EXPLAIN SELECT count(*) FROM train_metrics", 1),
    ("EXPLAIN ANALYZE SELECT count(*) FROM train_metrics", 1),
    ("SELECT 1 AS a; SELECT 2 AS b", 1),
]


@pytest.mark.parametrize(("sql", "n_rows"), READS)
def test_reads_still_work(lake, sql, n_rows):
    assert lake.query(sql).num_rows == n_rows


def test_write_mode_still_writes(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.ensure()
    before = lake.latest_version()
    lake.query("INSERT INTO train_metrics VALUES ('w', 1, 'loss', 0.5)", write=True)
    assert lake.latest_version() == before + 1
    assert lake.query("SELECT value FROM train_metrics").to_pylist() == [{"value": 0.5}]
