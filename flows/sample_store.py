"""The samples a run may reuse: the lake's rows with its sample identity, and the shards an
interrupted run staged; plus the count of what was reused, resumed and generated, and why.

Fixed-k (flows/generation.py) and adaptive rounds (flows/curate.py) both ask the store for the
samples of some prompts at some sample indices: what it holds is taken, the rest is generated in
shards that are staged as they finish (flows/staging.py), so a killed run resumes where it was.
"""

import functools
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from curation.sample_identity import SampleIdentity, identity_columns, predating_identity, why_regenerated
from flows.staging import GenerationStage
from schemas.lake import Lake
from schemas.lake_sql import literal
from schemas.tables import TABLES
from schemas.validate import last_per_key


@dataclass
class SampleCounts:
    """Where a run's samples came from; `why` counts the generated ones by reason."""

    reused: int = 0  # from the lake, same identity
    resumed: int = 0  # staged by an interrupted run
    generated: int = 0
    why: Counter = field(default_factory=Counter)
    predate_identity: int = 0  # lake samples of these prompts with no identity: never reused

    def record(self) -> dict:
        """JSON-ready, for the run summary and `runs.detail`."""
        return {"reused": self.reused, "resumed": self.resumed, "generated": self.generated,
                "why_generated": dict(self.why.most_common()), "predate_identity": self.predate_identity}


class SampleStore:
    """Samples of one SampleIdentity for one run's prompts: from the lake, from staging, and new."""

    def __init__(self, lake: Lake, prompts: pa.Table, identity: SampleIdentity):
        self.identity = identity
        self.stage = GenerationStage(lake.workdir, identity.key)
        self.counts = SampleCounts()
        wanted = pa.array(prompts.column("prompt_id"))
        earlier = _earlier_samples(lake, wanted)
        self._earlier = earlier
        self.counts.predate_identity = predating_identity(earlier)
        same = identity.columns()
        masks = [pc.equal(earlier.column(name), value) for name, value in same.items()]
        reusable = earlier.filter(functools.reduce(pc.and_, masks)) if earlier.num_rows else earlier
        self._lake_ids = set(reusable.column("generation_id").to_pylist())
        lake_rows = _read_rows(lake, self._lake_ids, same) if self._lake_ids else None
        staged = self.stage.read()
        if staged is not None:  # a crash between the generate commit and clearing staging leaves both
            staged = staged.filter(pc.and_(pc.is_in(staged.column("prompt_id"), value_set=wanted), pc.invert(
                pc.is_in(staged.column("generation_id"), value_set=pa.array(sorted(self._lake_ids), pa.string())))))
            staged = last_per_key(staged, ("generation_id",))
        parts = [t for t in (lake_rows, staged) if t is not None and t.num_rows]
        self._rows = pa.concat_tables([p.select(parts[0].column_names) for p in parts]) if parts else None
        self._held = set() if self._rows is None else set(self._rows.column("generation_id").to_pylist())
        self._taken: set[str] = set()

    def pending(self, prompts: pa.Table, indices: range) -> dict[tuple, list[int]]:
        """Prompts grouped by the sample indices they still lack: {indices tuple: prompt row numbers}."""
        groups: dict[tuple, list[int]] = {}
        for row, (pid, text) in enumerate(zip(prompts.column("prompt_id").to_pylist(),
                                               prompts.column("prompt").to_pylist())):
            missing = tuple(i for i in indices if self.identity.generation_id(pid, text, i) not in self._held)
            if missing:
                groups.setdefault(missing, []).append(row)
        return groups

    def take(self, prompts: pa.Table, indices: range) -> pa.Table | None:
        """The held samples of these prompts at these indices (counted as reused or resumed once)."""
        if self._rows is None:
            return None
        ids = {self.identity.generation_id(pid, text, i)
               for pid, text in zip(prompts.column("prompt_id").to_pylist(), prompts.column("prompt").to_pylist())
               for i in indices}
        found = self._rows.filter(pc.is_in(self._rows.column("generation_id"), value_set=pa.array(sorted(ids))))
        for gid in found.column("generation_id").to_pylist():
            if gid not in self._taken:
                self._taken.add(gid)
                if gid in self._lake_ids:
                    self.counts.reused += 1
                else:
                    self.counts.resumed += 1
        return found if found.num_rows else None

    def note_generating(self, prompts: pa.Table, work: dict[tuple, list[int]]) -> None:
        """Count the samples about to be generated, each with the reason the lake did not serve it."""
        ids = prompts.column("prompt_id").to_pylist()
        missing = [(ids[row], i) for indices, rows in work.items() for row in rows for i in indices]
        self.counts.generated += len(missing)
        self.counts.why.update(why_regenerated(self._earlier, self.identity, missing))


def _earlier_samples(lake: Lake, prompt_ids: pa.Array) -> pa.Table:
    """The lake's generations of these prompts: ids, sample index and identity columns only."""
    columns = ["generation_id", "prompt_id", "sample_index", *identity_columns()]
    if not lake.exists():
        return pa.schema([TABLES["generations"].schema.field(c) for c in columns]).empty_table()
    table = lake.read("generations", columns=columns)
    return table.filter(pc.is_in(table.column("prompt_id"), value_set=prompt_ids))


def _read_rows(lake: Lake, ids: set[str], identity: dict[str, str]) -> pa.Table:
    """Whole rows of the lake's samples with this identity whose id is in `ids` (no run_id)."""
    where = " AND ".join(f"{name} = {literal(value)}" for name, value in identity.items())
    table = lake.read("generations", where=where).drop_columns(["run_id"])
    return table.filter(pc.is_in(table.column("generation_id"), value_set=pa.array(sorted(ids))))
