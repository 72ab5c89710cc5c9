"""What the curate flow's stages pass along: the run's tables so far, and the queue of the next commit."""

from dataclasses import dataclass, field

import pyarrow as pa

from curation.backends.base import GenerationBackend
from curation.step import StepResult
from flows.config import CurateConfig
from flows.summary import RunSummary
from schemas.lake import Lake


@dataclass
class StageOutput:
    """Tables to commit (by lake table name) and row counts for the summary, since the last commit."""

    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, table: pa.Table | None) -> None:
        """Queue rows for table `name` (several parts concatenate at commit)."""
        if table is not None and table.num_rows:
            self.tables.setdefault(name, []).append(table)

    def record(self, step: str, result: StepResult) -> pa.Table:
        """Queue a step's filter_log rows (counted as dropped:<step>) and side tables; its kept rows."""
        self.add("filter_log", result.dropped)
        self.counts[f"dropped:{step}"] = self.counts.get(f"dropped:{step}", 0) + result.dropped.num_rows
        for name, table in result.side.items():
            self.add(name, table)
        return result.kept

    def merged(self) -> dict[str, pa.Table]:
        """One table per lake table name."""
        return {name: pa.concat_tables(parts, promote_options="permissive") for name, parts in self.tables.items()}


@dataclass
class CurationState:
    """One curate run as it goes: settings and engine, every table made so far, and `out`, what the
    next lake commit will write. Stages read and replace these fields instead of passing them."""

    cfg: CurateConfig
    lake: Lake
    backend: GenerationBackend  # on a Ray driver, the EngineSpec standing in for one
    run_id: str
    summary: RunSummary
    prompts: pa.Table
    eval_sets: dict[str, list[str]] | None = None  # decontamination texts by benchmark
    policy: str | None = None  # the sampling policy's fingerprint (model_identity.policy_fingerprint)
    judge: GenerationBackend | None = None  # the LLM judge's own engine (None: the policy judges)
    generations: pa.Table | None = None
    trace_tags: pa.Table | None = None
    clean_generations: pa.Table | None = None  # responses fit to train on (after hygiene)
    verdicts: pa.Table | None = None
    stats: pa.Table | None = None  # prompt_stats
    skills: pa.Table | None = None
    prompt_skills: pa.Table | None = None
    profile: pa.Table | None = None  # skill_profile (Missing-Skill-Profile)
    sft: pa.Table | None = None  # the three splits, from candidates to their final rows
    preference: pa.Table | None = None
    rl: pa.Table | None = None
    attributes: pa.Table | None = None  # per-prompt source/task/bucket/skills, for mixing quotas
    out: StageOutput = field(default_factory=StageOutput)
