"""The end-of-run summary: rows per stage, lake versions, a pass-rate histogram, splits."""

from collections import Counter
from dataclasses import dataclass, field

from rich.table import Table

BUCKETS = ["solved", "easy", "medium", "hard", "unsolved"]


@dataclass
class RunSummary:
    """What a curation run did, stage by stage."""

    run_id: str
    stages: list[tuple[str, int, dict]] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    splits: dict[str, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0
    generated_now: int = 0
    temperature_probe: list[dict] | None = None

    def stage(self, name: str, version: int, **counts) -> None:
        """Record a committed stage: its snapshot version and row counts."""
        self.stages.append((name, version, counts))

    @property
    def counts(self) -> dict:
        """All row counts by name, for the runs table."""
        return {k: v for _, _, counts in self.stages for k, v in counts.items()}

    def details(self) -> dict:
        """What the runs table records about this run: counts, and the temperature choice if any."""
        detail = {"counts": self.counts}
        if self.temperature_probe:
            detail["temperature_probe"] = self.temperature_probe
        return detail

    def tables(self) -> list[Table]:
        """Rich tables: stages, difficulty histogram, splits."""
        stages = Table(title=f"run {self.run_id} ({self.seconds:.0f} s)")
        for col in ("stage", "lake version", "rows"):
            stages.add_column(col)
        for name, version, counts in self.stages:
            stages.add_row(name, str(version), ", ".join(f"{k}={v}" for k, v in counts.items()))
        hist = Table(title="pass rate over k (prompts per difficulty bucket)")
        hist.add_column("bucket")
        hist.add_column("prompts", justify="right")
        hist.add_column("")
        counter = Counter(self.buckets)
        peak = max(counter.values(), default=1)
        for bucket in BUCKETS:
            n = counter.get(bucket, 0)
            hist.add_row(bucket, str(n), "█" * round(30 * n / peak))
        splits = Table(title="splits")
        for col in ("split", "version", "rows"):
            splits.add_column(col)
        for name, (version, rows) in self.splits.items():
            splits.add_row(name, str(version), str(rows))
        return [stages, hist, splits]
