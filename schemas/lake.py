"""The Lake: a DuckLake catalog over Parquet. Every commit is one snapshot; reads can time-travel.

Connections are opened per operation and closed at once, so a long curation run never holds
the catalog and readers (`warmstart sql`) keep working between its commits.
"""

import importlib.util
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas import lake_sql
from schemas.errors import LakeError
from schemas.tables import TABLES
from schemas.validate import conform

_LOCK_WAIT_S = 30.0


def ducklake_extension_path() -> str:
    """The ducklake extension file shipped by the `duckdb-extension-ducklake` wheel (offline LOAD)."""
    found = importlib.util.find_spec("duckdb_extension_ducklake")
    if found is None or not found.submodule_search_locations:
        raise LakeError("package duckdb-extension-ducklake is not installed (run `make setup`)")
    folder = Path(list(found.submodule_search_locations)[0])
    files = sorted(folder.rglob("*.duckdb_extension"))
    if not files:
        raise LakeError(f"no .duckdb_extension file in {folder}")
    return str(files[0])


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


class Lake:
    """A versioned table store at `location` (a directory holding catalog.ducklake and files/)."""

    def __init__(self, location: str | Path):
        self.location = Path(location)
        self.catalog = self.location / "catalog.ducklake"
        self.data_path = self.location / "files"

    def exists(self) -> bool:
        """Whether a catalog has been created here."""
        return self.catalog.exists()

    @contextmanager
    def connect(self, *, write: bool = False, version: int | None = None):
        """A DuckDB connection with the lake attached as `lake` and in use; closed on exit."""
        if not write and not self.exists():
            raise LakeError(f"no lake at {self.location} (run `warmstart run CONFIG` first)")
        if write:
            self.data_path.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        try:
            con.execute(f"LOAD {lake_sql.literal(ducklake_extension_path())}")
            self._attach(con, read_only=not write, version=version)
            con.execute("USE lake")
            yield con
        finally:
            con.close()

    def _attach(self, con, *, read_only: bool, version: int | None) -> None:
        sql = lake_sql.attach(str(self.catalog), str(self.data_path) + "/",
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
                    raise LakeError(f"lake {self.location} is busy (another process is writing); "
                                    "try again shortly") from exc
                if version is not None and "snapshot" in str(exc).lower():
                    raise LakeError(f"lake has no snapshot version {version}") from exc
                raise LakeError(f"cannot open lake {self.location}: {exc}") from exc

    def ensure(self) -> None:
        """Create the catalog and every known table (idempotent)."""
        with self.connect(write=True) as con:
            existing = self._table_names(con)
            missing = [t for name, t in TABLES.items() if name not in existing]
            if missing:
                con.execute("BEGIN")
                for table in missing:
                    con.execute(lake_sql.create_table(table))
                con.execute("COMMIT")

    def commit(self, tables: dict[str, pa.Table | list], *, run_id: str | None = None) -> int:
        """Upsert several tables by key in one transaction: one new snapshot. Returns its version."""
        staged = {name: conform(name, data, run_id=run_id) for name, data in tables.items()}
        self.ensure()
        with self.connect(write=True) as con:
            con.execute("BEGIN")
            try:
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
                raise LakeError(f"commit failed, lake unchanged: {exc}") from exc
            return self._latest(con)

    def query(self, sql: str, *, version: int | None = None, write: bool = False) -> pa.Table:
        """Run user SQL against the lake (read-only unless write=True); return an Arrow table."""
        with self.connect(write=write, version=version) as con:
            if not write:
                _lock_down(con, self.location)
            try:
                result = con.execute(sql)
            except duckdb.Error as exc:
                raise LakeError(_explain_sql_error(exc, write)) from exc
            if result.description is None:
                return pa.table({})
            return result.fetch_arrow_table()

    def read(self, name: str, *, version: int | None = None, where: str | None = None) -> pa.Table:
        """A whole table (optionally filtered by a SQL predicate) as of `version`."""
        sql = f"SELECT * FROM {lake_sql.quote(name)}" + (f" WHERE {where}" if where else "")
        with self.connect(version=version) as con:
            if name not in self._table_names(con):
                return conform(name, [])
            return con.execute(sql).fetch_arrow_table()

    def latest_version(self) -> int | None:
        """The newest snapshot id, or None when no lake exists yet."""
        if not self.exists():
            return None
        with self.connect() as con:
            return self._latest(con)

    def snapshots(self) -> pa.Table:
        """Every snapshot with its time and changes."""
        with self.connect() as con:
            return con.execute("SELECT * FROM ducklake_snapshots('lake') ORDER BY snapshot_id").fetch_arrow_table()

    @staticmethod
    def _latest(con) -> int:
        return con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()[0]

    @staticmethod
    def _table_names(con) -> set[str]:
        rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'").fetchall()
        return {r[0] for r in rows}


def _lock_down(con, location: Path) -> None:
    """Stop read-only SQL from reaching files or databases outside the lake."""
    con.execute(f"SET allowed_directories = [{lake_sql.literal(str(location.resolve()) + '/')}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _explain_sql_error(exc: Exception, write: bool) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not write and ("read-only" in text.lower() or "read only" in text.lower()
                      or "cannot execute statement" in text.lower()):
        return f"the lake is opened read-only; pass --write to change it ({text})"
    if "permission" in text.lower() or "external access" in text.lower():
        return f"read-only SQL may not reach files or databases outside the lake ({text})"
    return f"SQL error: {text}"
