"""What one curate run made (splits with their mix, drops, table rows) and how two runs differ;
the token-counting engine wrapper the method runs share. Used by benchmarks/methods_report.py."""

import sys
from collections import Counter
from pathlib import Path

from curation.backends.base import GenerationBackend
from schemas.lake import Lake
from schemas.lake_sql import literal
from schemas.tables import ROW_ID, TABLES

# Columns a split's mix is counted by: the split table's own, or the prompt's (task, bucket).
MIX_COLUMNS = ("task", "difficulty_bucket", "origin", "pair_kind", "curriculum_stage", "mix_stage")
COUNTED_TABLES = [name for name, spec in TABLES.items()
                  if name not in ("runs", "splits") and "run_id" in spec.schema.names]


class CountingBackend(GenerationBackend):
    """Passes every call to the engine it wraps and counts the completions and tokens it returns;
    close() is left to the owner, so many runs share one engine."""

    def __init__(self, inner: GenerationBackend):
        self.inner, self.model_name = inner, inner.model_name
        self.tokens = self.completions = 0

    def reset(self) -> None:
        """Start counting the next run."""
        self.tokens = self.completions = 0

    def generate(self, conversations, n, sampling, **kwargs):
        """The wrapped engine's completions, counted."""
        out = self.inner.generate(conversations, n, sampling, **kwargs)
        self.completions += sum(len(row) for row in out)
        self.tokens += sum(c.n_tokens for row in out for c in row)
        return out

    def close(self) -> None:
        """Shared: the report closes the wrapped engine once, at the end."""


def quick_policy(answers: dict[str, str]) -> GenerationBackend:
    """The tests' deterministic FakePolicy (tests/flows/fake_policy.py), also reporting a token
    entropy that grows with the temperature, so `temperature: auto` has something to measure."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "flows"))
    from fake_policy import FakePolicy

    class QuickPolicy(FakePolicy):
        def generate(self, conversations, n, sampling, *, want_entropy=False, **kwargs):
            out = super().generate(conversations, n, sampling, want_entropy=want_entropy, **kwargs)
            for completion in (c for row in out for c in row if want_entropy):
                completion.mean_entropy = 0.5 * sampling.temperature
            return out

    return QuickPolicy(answers)


def measure(lake: Lake, run_id: str) -> dict:
    """Rows per lake table and drops per step written by run `run_id`, and each split it registered:
    its row ids and its mix by MIX_COLUMNS."""
    run = literal(run_id)
    counts = lake.query_many([f"SELECT count(*) AS n FROM {name} WHERE run_id = {run}" for name in COUNTED_TABLES])
    drops = lake.query(f"SELECT step, count(*) AS n FROM filter_log WHERE run_id = {run} GROUP BY step").to_pylist()
    attributes = {row["prompt_id"]: row for row in lake.query(
        "SELECT p.prompt_id, p.task, s.difficulty_bucket FROM prompts p "
        f"LEFT JOIN prompt_stats s ON s.prompt_id = p.prompt_id AND s.run_id = {run}").to_pylist()}
    splits = {}
    for split in lake.query(f"SELECT split_name, table_name, row_ids FROM splits WHERE run_id = {run}").to_pylist():
        rows = {row[ROW_ID[split["table_name"]]]: row
                for row in lake.read(split["table_name"], where=f"run_id = {run}").to_pylist()}
        members = [{**attributes.get(rows[i]["prompt_id"], {}), **rows[i]} for i in split["row_ids"]]
        splits[split["split_name"]] = {"ids": list(split["row_ids"]), "mix": mix_of(members)}
    return {"tables": {name: table.column("n")[0].as_py() for name, table in zip(COUNTED_TABLES, counts)},
            "drops": {row["step"]: row["n"] for row in drops}, "splits": splits}


def mix_of(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Rows per value of each MIX_COLUMNS column the rows have."""
    return {column: dict(sorted(Counter(str(row[column]) for row in rows).items()))
            for column in MIX_COLUMNS if rows and column in rows[0]}


def compare(off: dict, on: dict) -> dict:
    """How the 'on' run differs from the 'off' run: split rows (in and out by id), the mix values
    that changed, drops, other tables' rows, and the cost of each."""
    names = sorted(set(off["splits"]) | set(on["splits"]))
    empty = {"ids": [], "mix": {}}
    splits, mixes = {}, {}
    for name in names:
        a, b = off["splits"].get(name, empty), on["splits"].get(name, empty)
        splits[name] = {"off": len(a["ids"]), "on": len(b["ids"]),
                        "in": len(set(b["ids"]) - set(a["ids"])), "out": len(set(a["ids"]) - set(b["ids"]))}
        changed = {column: values for column in sorted(set(a["mix"]) | set(b["mix"]))
                   if (values := _changed(a["mix"].get(column, {}), b["mix"].get(column, {})))}
        if changed:
            mixes[name] = changed
    return {"splits": splits, "mix": mixes, "drops": _changed(off["drops"], on["drops"]),
            "tables": _changed(off["tables"], on["tables"]),
            "cost": {key: [off[key], on[key]] for key in ("seconds", "tokens", "completions")}}


def _changed(a: dict, b: dict) -> dict[str, list[int]]:
    """{key: [a, b]} for keys whose counts differ (missing = 0)."""
    return {key: [a.get(key, 0), b.get(key, 0)] for key in sorted(set(a) | set(b)) if a.get(key, 0) != b.get(key, 0)}
