"""The split registry: a named, versioned pointer to rows of a lake table at one snapshot."""

from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from schemas.errors import SplitError
from schemas.lake import Lake
from schemas.lake_sql import literal
from schemas.tables import ROW_ID, SPLIT_KINDS

# `warmstart export` formats that keep the lake's columns (and that `warmstart train --data` reads)
PLAIN_EXPORT_FORMATS = ("parquet", "jsonl")


@dataclass
class Split:
    """The rows of one split version, read as of the snapshot it was cut from."""

    name: str
    kind: str
    version: int
    table_name: str
    rows: pa.Table


def register_split(lake: Lake, name: str, kind: str, row_ids: list[str], *, run_id: str,
                   filter: str = "", version: int | None = None) -> int:
    """Record split `name` over rows committed at snapshot `version` (default: the latest)."""
    return register_splits(lake, {name: (kind, row_ids)}, run_id=run_id, filter=filter, version=version)


def register_splits(lake: Lake, entries: dict[str, tuple[str, list[str]]], *, run_id: str,
                    filter: str = "", version: int | None = None) -> int:
    """Record several splits {name: (kind, row ids)} in one commit; returns their version.

    Call after the rows are committed: the version is the snapshot that holds them.
    """
    for kind, _ in entries.values():
        if kind not in SPLIT_KINDS:
            raise SplitError(f"unknown split kind '{kind}'; kinds: {', '.join(SPLIT_KINDS)}")
    version = lake.latest_version() if version is None else version
    now = datetime.now(timezone.utc)
    lake.commit({"splits": [{
        "split_name": name, "version": version, "kind": kind, "table_name": SPLIT_KINDS[kind],
        "row_ids": list(ids), "n_rows": len(ids), "filter": filter, "run_id": run_id, "created_at": now,
    } for name, (kind, ids) in entries.items()]}, run_id=run_id)
    return version


def list_splits(lake: Lake) -> pa.Table:
    """Every split version: name, version, kind, table, row count, run."""
    return lake.query("SELECT split_name, version, kind, table_name, n_rows, run_id, created_at "
                      "FROM splits ORDER BY split_name, version")


def read_split(lake: Lake, name: str, version: int | None = None) -> Split:
    """Read split `name` (latest version unless `version`), with a clear error if unknown or empty."""
    registry = lake.read("splits", where=f"split_name = {literal(name)}")
    if registry.num_rows == 0:
        known = sorted(set(lake.read("splits").column("split_name").to_pylist()))
        raise SplitError(f"unknown split '{name}'; known splits: {', '.join(known) or 'none'}")
    versions = registry.column("version").to_pylist()
    if version is None:
        version = max(versions)
    elif version not in versions:
        raise SplitError(f"split '{name}' has no version {version}; versions: "
                         f"{', '.join(map(str, sorted(versions)))}")
    entry = registry.filter(pc.equal(registry.column("version"), version)).slice(0, 1).to_pylist()[0]
    table = lake.read(entry["table_name"], version=version)
    ids = pa.array(entry["row_ids"], pa.string())
    rows = table.filter(pc.is_in(table.column(ROW_ID[entry["table_name"]]), value_set=ids))
    if rows.num_rows == 0:
        raise SplitError(f"split '{name}' version {version} is empty")
    return Split(name, entry["kind"], version, entry["table_name"], rows)
