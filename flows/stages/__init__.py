"""Curate-flow stages: each composes pure curation steps into the tables one lake commit writes."""

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass
class StageOutput:
    """Tables to commit (by lake table name), row counts for the summary, and the main result."""

    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, table: pa.Table | None) -> None:
        """Queue rows for table `name` (several parts concatenate at commit)."""
        if table is not None and table.num_rows:
            self.tables.setdefault(name, []).append(table)

    def dropped(self, step: str, log: pa.Table) -> None:
        """Queue a filter_log part and count its rows under the step's name."""
        self.add("filter_log", log)
        self.counts[f"dropped:{step}"] = self.counts.get(f"dropped:{step}", 0) + log.num_rows

    def merged(self) -> dict[str, pa.Table]:
        """One table per lake table name."""
        return {name: pa.concat_tables(parts, promote_options="permissive") for name, parts in self.tables.items()}
