"""The Lake: a DuckLake catalog over Parquet. Every commit is one snapshot; reads can time-travel.

Connections are opened per operation and closed at once, so a long curation run never holds
the catalog and readers (`warmstart sql`) keep working between its commits. The catalog is a
DuckDB file in the lake directory, or a PostgreSQL database that several hosts share
(`postgres://user@host:5432/db?data_path=/shared/dir`, see schemas/lake_location.py).
"""

import re
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas import lake_sql, shared_path
from schemas.errors import LakeError
from schemas.lake_location import (LakeLocation, ducklake_extension_path, parse_location,
                                   postgres_extension_path)
from schemas.tables import TABLES
from schemas.validate import conform, last_per_key

_LOCK_WAIT_S = 30.0
# PostgreSQL catalogs this process has opened: they exist, so a write need not check for a new one
_KNOWN_CATALOGS: set[str] = set()


class MissingLakeError(LakeError):
    """Reading a lake that was never created (no catalog yet)."""


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


class Lake:
    """A versioned table store: a directory (catalog.ducklake + files/), or a shared lake at
    `postgres://user@host:port/db?data_path=/shared/dir` (catalog in PostgreSQL)."""

    def __init__(self, location: str | Path):
        self.where: LakeLocation = parse_location(location)
        # a URL's password stays in self.where: the location is safe to print, store and pass on
        self.location = self.where.local_dir or self.where.display
        self.catalog = Path(self.where.catalog) if self.where.local_dir else self.where.catalog
        self.data_path = self.where.data_path

    @property
    def workdir(self) -> Path:
        """Where runs stage their work (generation shards): the lake directory, or a folder in
        the shared data_path that every host of a PostgreSQL lake sees."""
        return self.where.local_dir or self.data_path / ".warmstart"

    def __repr__(self) -> str:
        return f"Lake({self.where.display!r})"

    def exists(self) -> bool:
        """Whether a catalog has been created here (LakeError if its server cannot be reached)."""
        if not self.where.is_postgres:
            return self.catalog.exists()
        try:
            with self.connect():
                return True
        except MissingLakeError:
            return False

    @contextmanager
    def connect(self, *, write: bool = False, version: int | None = None):
        """A DuckDB connection with the lake attached as `lake` and in use; closed on exit.

        Reading a lake that was never created raises MissingLakeError (a LakeError).
        """
        if not write and not self.where.is_postgres and not self.exists():
            raise MissingLakeError(f"no lake at {self.where.display} (run `warmstart run CONFIG` first)")
        new_catalog = write and self._prepare_data_path()
        # The extension files come from our own pinned wheels; skipping their signature check
        # saves ~0.2 s per connection.
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        try:
            con.execute(f"LOAD {lake_sql.literal(ducklake_extension_path())}")
            if self.where.is_postgres:
                con.execute(f"LOAD {lake_sql.literal(postgres_extension_path())}")
            self._attach(con, read_only=not write, version=version)
            if new_catalog:
                shared_path.claim(self.where)
            if self.where.is_postgres:
                _KNOWN_CATALOGS.add(self.where.display)
            con.execute("USE lake")
            yield con
        finally:
            con.close()

    def _prepare_data_path(self) -> bool:
        """Before a write: a local lake's data path is created; a shared one must exist, and a new
        catalog's must be unclaimed. Returns whether the write creates a PostgreSQL catalog."""
        if not self.where.is_postgres:
            try:
                self.data_path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LakeError(f"cannot create the lake's data path {self.data_path}: "
                                f"{exc.strerror or exc}") from exc
            return False
        shared_path.check_reachable(self.where)
        if self.where.display in _KNOWN_CATALOGS or self.exists():
            return False
        shared_path.check_unclaimed(self.where)
        return True

    def _attach(self, con, *, read_only: bool, version: int | None) -> None:
        sql = lake_sql.attach(self.where.catalog, str(self.data_path) + "/",
                              read_only=read_only, version=version)
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                con.execute(sql)
                return
            except duckdb.Error as exc:
                if _is_lock_error(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                if _is_lock_error(exc):
                    raise LakeError(f"lake {self.where.display} is busy (another process is "
                                    "writing); try again shortly") from exc
                if _is_connection_error(exc):
                    raise LakeError(connection_error(self.where, exc)) from exc
                if read_only and "creating a new ducklake is explicitly disabled" in str(exc).lower():
                    raise MissingLakeError(f"no lake at {self.where.display} "
                                           "(run `warmstart run CONFIG` first)") from exc
                if version is not None and "snapshot" in str(exc).lower():
                    raise LakeError(f"lake has no snapshot version {version}") from exc
                raise LakeError(f"cannot open lake {self.where.display}: "
                                f"{self.where.redact(str(exc))}") from exc

    def ensure(self) -> None:
        """Create the catalog and every known table (idempotent)."""
        with self.connect(write=True) as con:
            con.execute("BEGIN")
            self._create_missing_tables(con)
            con.execute("COMMIT")

    def commit(self, tables: dict[str, pa.Table | list], *, run_id: str | None = None) -> int:
        """Upsert several tables by key in one transaction: one new snapshot. Returns its version."""
        staged = {name: last_per_key(conform(name, data, run_id=run_id), TABLES[name].key)
                  for name, data in tables.items()}
        with self.connect(write=True) as con:
            con.execute("BEGIN")
            try:
                self._create_missing_tables(con)  # in the same transaction: still one snapshot
                for name, table in staged.items():
                    if table.num_rows == 0:
                        continue
                    con.register("staged", table)
                    con.execute(lake_sql.delete_matching(TABLES[name], "staged"))
                    con.execute(lake_sql.insert_from(TABLES[name], "staged"))
                    con.unregister("staged")
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise LakeError(f"commit failed, lake unchanged: {self.where.redact(str(exc))}") from exc
            return self._latest(con)

    def query(self, sql: str, *, version: int | None = None, write: bool = False) -> pa.Table:
        """Run user SQL against the lake (read-only unless write=True); return an Arrow table."""
        return self.query_many([sql], version=version, write=write)[0]

    def query_many(self, sqls: list[str], *, version: int | None = None,
                   write: bool = False) -> list[pa.Table]:
        """Several queries over one connection (one attach, not one per query); a table for each."""
        with self.connect(write=write, version=version) as con:
            try:
                if not write:
                    _lock_down(con, self.where.local_dir or self.data_path, ";\n".join(sqls))
                results = []
                for sql in sqls:
                    result = con.execute(sql)
                    # fetch inside the try: errors can surface here, not only in execute
                    results.append(pa.table({}) if result.description is None else in_utc(result.fetch_arrow_table()))
                return results
            except duckdb.Error as exc:
                raise LakeError(self.where.redact(_explain_sql_error(exc, write))) from exc

    def read(self, name: str, *, version: int | None = None, where: str | None = None) -> pa.Table:
        """A whole table (optionally filtered by a SQL predicate) as of `version`."""
        sql = f"SELECT * FROM {lake_sql.quote(name)}" + (f" WHERE {where}" if where else "")
        with self.connect(version=version) as con:
            if name not in self._table_names(con):
                return conform(name, [])
            return in_utc(con.execute(sql).fetch_arrow_table())

    def latest_version(self) -> int | None:
        """The newest snapshot id, or None when no lake exists yet."""
        try:
            with self.connect() as con:
                return self._latest(con)
        except MissingLakeError:
            return None

    def snapshots(self) -> pa.Table:
        """Every snapshot with its time and changes."""
        with self.connect() as con:
            return con.execute("SELECT * FROM ducklake_snapshots('lake') ORDER BY snapshot_id").fetch_arrow_table()

    def _create_missing_tables(self, con) -> None:
        existing = self._table_names(con)
        for name, table in TABLES.items():
            if name not in existing:
                con.execute(lake_sql.create_table(table))

    @staticmethod
    def _latest(con) -> int:
        return con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()[0]

    @staticmethod
    def _table_names(con) -> set[str]:
        rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'").fetchall()
        return {r[0] for r in rows}


def in_utc(table: pa.Table) -> pa.Table:
    """Label timestamp columns UTC (DuckDB hands them back in the host's zone without ICU)."""
    fields = [pa.field(f.name, pa.timestamp(f.type.unit, tz="UTC"), f.nullable)
              if pa.types.is_timestamp(f.type) and f.type.tz else f for f in table.schema]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def _lock_down(con, lake_dir: Path, sql: str) -> None:
    """Stop read-only SQL from writing, or from reaching files or databases outside the lake.

    DuckDB cannot make the lake's directory readable but not writable, so each statement of `sql`
    is parsed first: only SELECT (also via CALL or EXPLAIN) passes, and no function that writes.
    """
    con.execute(f"SET allowed_directories = [{lake_sql.literal(str(lake_dir.resolve()) + '/')}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    # DuckLake maintenance writes files even on a read-only attach; query(),
    # json_execute_serialized_sql and postgres_* run SQL from strings, which this check cannot see.
    writers = {"ducklake_add_data_files", "ducklake_cleanup_old_files", "ducklake_commit",
               "ducklake_delete_orphaned_files", "ducklake_expire_snapshots",
               "ducklake_flush_inlined_data", "ducklake_merge_adjacent_files",
               "ducklake_rewrite_data_files", "ducklake_set_commit_message", "ducklake_set_option",
               "checkpoint", "force_checkpoint", "enable_logging", "disable_logging",
               "truncate_duckdb_logs", "enable_profiling", "disable_profiling", "query",
               "json_execute_serialized_sql", "postgres_execute", "postgres_query"}
    refusal = "the lake is opened read-only; pass --write to change it"
    for statement in con.extract_statements(sql):
        text, kind = statement.query, statement.type
        if kind == duckdb.StatementType.CALL:
            text = re.sub(r"^\s*CALL\s", "SELECT * FROM ", text, flags=re.I)
        elif kind == duckdb.StatementType.EXPLAIN:
            text = re.sub(r"^\s*EXPLAIN\s+(ANALY[SZ]E\s+)?", "", text, flags=re.I)
        elif kind != duckdb.StatementType.SELECT:
            raise LakeError(f"{refusal} (read-only SQL runs SELECT, CALL or EXPLAIN, "
                            f"not {kind.name}: {text.strip()[:60]!r})")
        tree = con.execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0]
        if tree.startswith('{"error":true'):
            raise LakeError(f"{refusal} (read-only SQL runs SELECT, CALL or EXPLAIN of a SELECT; "
                            f"cannot run {text.strip()[:60]!r})")
        called = sorted(set(re.findall(r'"function_name":"([^"]*)"', tree)) & writers)
        if called:
            raise LakeError(f"{refusal} (read-only SQL may not call {', '.join(called)}: "
                            "it writes, or runs SQL built from strings)")


def _is_connection_error(exc: Exception) -> bool:
    return "unable to connect to postgres" in str(exc).lower()


def connection_error(where: LakeLocation, exc: Exception) -> str:
    """One line naming the lake and libpq's reason (refused, bad password, ...), password scrubbed;
    for DuckDB's and psycopg's connection errors alike."""
    text = where.redact(str(exc))
    found = re.search(r'(?:Unable to connect to Postgres at "[^"]*":|^connection failed:)\s*(.*)', text, re.S)
    reason = " ".join((found.group(1) if found else text).split())
    if re.search(r'database ".*" does not exist', reason):
        reason += " (create it once with `createdb`; warmstart creates the tables)"
    return f"cannot reach the lake catalog at {where.display}: {reason}"


def _explain_sql_error(exc: Exception, write: bool) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not write and ("read-only" in text.lower() or "read only" in text.lower()
                      or "cannot execute statement" in text.lower()):
        return f"the lake is opened read-only; pass --write to change it ({text})"
    if "permission" in text.lower() or "external access" in text.lower():
        return f"read-only SQL may not reach files or databases outside the lake ({text})"
    return f"SQL error: {text}"
