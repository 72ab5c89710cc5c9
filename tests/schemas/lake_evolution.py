"""Column evolution, shared by the local and the PostgreSQL lake tests: a lake written with the
previous `generations` schema (before sample identity) keeps working under the current one."""

import pyarrow as pa

from schemas.tables import TABLES, TableSpec

NEW = ("model_fingerprint", "chat_template", "prompt_format", "seed")


def old_row(i: int) -> dict:
    return {"generation_id": f"old{i}", "prompt_id": "p", "model": "m", "sampling": "{}", "sample_index": i,
            "response": "Answer: 1", "n_tokens": 3, "finish_reason": "stop"}


def check_evolution(lake, monkeypatch) -> None:
    """Write with the old schema; read, filter and time-travel under the new; commit new rows."""
    current = TABLES["generations"]
    previous = TableSpec("generations", pa.schema([f for f in current.schema if f.name not in NEW]), current.key)
    monkeypatch.setitem(TABLES, "generations", previous)
    old_version = lake.commit({"generations": [old_row(0), old_row(1)]}, run_id="old")
    monkeypatch.setitem(TABLES, "generations", current)

    # reads see the declared columns, NULL where the old lake has none; filters on them work
    rows = lake.read("generations").to_pylist()
    assert [r["model_fingerprint"] for r in rows] == [None, None] and list(rows[0]) == current.schema.names
    assert lake.read("generations", where="model_fingerprint IS NULL", columns=["generation_id"]).num_rows == 2

    snapshots = lake.snapshots().num_rows
    new = {**old_row(2), "generation_id": "new", "model_fingerprint": "fp", "chat_template": "t",
           "prompt_format": "f", "seed": 7}
    version = lake.commit({"generations": [new]}, run_id="new")
    assert lake.snapshots().num_rows == snapshots + 1, "columns added in the commit's own snapshot"
    stored = {r["generation_id"]: r for r in lake.query("SELECT * FROM generations").to_pylist()}
    assert stored["new"]["seed"] == 7 and stored["old0"]["seed"] is None and len(stored) == 3
    assert lake.read("generations", version=old_version).column("seed").to_pylist() == [None, None]
    assert lake.read("generations", version=version, where="seed = 7").num_rows == 1
