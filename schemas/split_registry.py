"""The split registry: a named, versioned pointer to rows of a lake table at one snapshot."""

from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from schemas.errors import SplitError
from schemas.lake import Lake
from schemas.lake_sql import literal
from schemas.tables import ROW_ID, SPLIT_KINDS

# The column of an rl split's rows that lists the curriculum stages replaying the prompt (QwenLong-L1)
REPLAY_STAGES = "replay_stages"
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


def stage_split(name: str, stage: int) -> str:
    """The name a DMT mix registers its SFT stage under: <name>_stage1, <name>_stage2."""
    return f"{name}_stage{stage}"


def split_stages(lake: Lake, name: str, version: int | None = None) -> list[str]:
    """The splits a training on `name` runs, in order: a DMT mix registered as <name>_stage1 and
    <name>_stage2 (at `version`, else newer than any plain `name`) trains both; anything else is [name]."""
    stages = [stage_split(name, 1), stage_split(name, 2)]
    if not lake.exists():
        return [name]
    names = ", ".join(literal(n) for n in [name, *stages])
    found = lake.query(f"SELECT split_name, version FROM splits WHERE split_name IN ({names})").to_pylist()
    versions = {n: {r["version"] for r in found if r["split_name"] == n} for n in [name, *stages]}
    both = versions[stages[0]] & versions[stages[1]]
    if version is not None:
        return stages if version in both and version not in versions[name] else [name]
    return stages if both and max(both) > max(versions[name], default=-1) else [name]


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
    # in the order the split registered its rows: a lake scan has no fixed order, and a seeded
    # trainer shuffles positions, so the same split must always arrive the same way
    rows = rows.take(pc.sort_indices(pc.index_in(rows.column(ROW_ID[entry["table_name"]]), value_set=ids)))
    if rows.num_rows == 0:
        raise SplitError(f"split '{name}' version {version} is empty")
    if entry["kind"] == "rl":
        rows = with_replay_stages(lake, rows, run_id=entry["run_id"], version=version)
    return Split(name, entry["kind"], version, entry["table_name"], rows)


def with_replay_stages(lake: Lake, rows: pa.Table, *, run_id: str, version: int) -> pa.Table:
    """RL rows with `replay_stages`: the later curriculum stages that replay each prompt
    (retrospective rows of its curate run's curriculum_schedule, as of the split's snapshot)."""
    schedule = lake.read("curriculum_schedule", version=version,
                         where=f"run_id = {literal(run_id)} AND retrospective").to_pylist()
    stages: dict[str, list[int]] = {}
    for row in schedule:
        stages.setdefault(row["prompt_id"], []).append(row["stage"])
    replays = [sorted(stages.get(pid, [])) for pid in rows.column("prompt_id").to_pylist()]
    return rows.append_column(REPLAY_STAGES, pa.array(replays, pa.list_(pa.int64())))
