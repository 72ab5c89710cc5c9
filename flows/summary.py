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
    samples: dict | None = None  # SampleCounts.record(): reused, resumed, generated and why
    notes: list[str] = field(default_factory=list)  # said once, under the samples table

    def note_samples(self, counts, backend) -> None:
        """Record where the samples came from, and say plainly what a reader must know about them."""
        self.samples, self.generated_now = counts.record(), counts.generated
        if counts.predate_identity:
            self.notes.append(f"{counts.predate_identity} samples in the lake predate sample identity "
                              "(no model fingerprint, chat template or prompt format) and are not reused")
        if counts.generated and not backend.supports_request_seeds:
            self.notes.append(f"backend '{backend.kind}' takes no per-request seeds here: samples "
                              "are drawn from the engine's seed, so a killed run's unfinished shards are "
                              "redrawn, not replayed (row counts still match)")

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
        if self.samples is not None:
            detail["samples"] = {**self.samples, "notes": self.notes}
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
        return [stages, self._samples_table(), hist, splits]

    def _samples_table(self) -> Table:
        """Reused, resumed and generated samples, the generated ones by reason, then the notes."""
        table = Table(title="samples", caption="\n".join(self.notes) or None)
        table.add_column("source")
        table.add_column("samples", justify="right")
        found = self.samples or {}
        table.add_row("reused from the lake (same identity)", str(found.get("reused", 0)))
        table.add_row("resumed from staged shards", str(found.get("resumed", 0)))
        for reason, n in (found.get("why_generated") or {}).items():
            table.add_row(f"generated: {reason}", str(n))
        return table
