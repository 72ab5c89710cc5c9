"""Reasoning-trace tags: length, backtracking, self-verification and restarts per generation.

"How Much Backtracking is Enough?" finds that SFT traces with backtracks help later RL, and that
harder tasks want more of them; these counts make that a column to filter and mix on:

    SELECT g.*, t.backtracks FROM generations g JOIN trace_tags t USING (generation_id)

Markers are case-insensitive RE2 regexes counted by pyarrow, so a column of any size is tagged
without a Python loop.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from curation import text_stats
from curation.step import StepResult, keep_rows, require_columns
from schemas.config import StrictModel
from schemas.tables import TABLES, step_schema

TRACE_TAGS_SCHEMA = step_schema("trace_tags")
TRACE_TAGS_SPEC = TABLES["trace_tags"]

BACKTRACK_MARKERS = [
    r"\bwait\b", r"\bhmm+\b", r"\bactually,", r"let me re-?(check|consider|examine|think|evaluate)",
    r"\bon second thought", r"\bi made (a|an) (mistake|error)",
    r"\bthat('s| is) (not right|wrong|incorrect)", r"\bno, (that|this|wait)", r"\bscratch that"]
SELF_CHECK_MARKERS = [
    r"let me (verify|check|double[- ]check|confirm)", r"\bdouble[- ]check", r"\bto verify\b",
    r"\bverif(y|ying|ication):", r"\bsanity check", r"(?:^|\s)check(ing)?:", r"\bplugging (it|this|that) back"]
RESTART_MARKERS = [
    r"let me (start over|try again|restart|begin again)", r"\bstart(ing)? over\b",
    r"\btry (a different|another) (approach|way|method)", r"\blet's try again\b", r"\balternatively,"]
TAG_COLUMNS = ("n_tokens", "backtracks", "self_checks", "restarts")


class TraceTagConfig(StrictModel):
    """The marker phrases counted in each response (case-insensitive RE2 regexes)."""

    backtrack_markers: list[str] = Field(
        default_factory=lambda: list(BACKTRACK_MARKERS),
        description="a re-evaluation of an earlier step: 'wait', 'let me re-check'")
    self_check_markers: list[str] = Field(
        default_factory=lambda: list(SELF_CHECK_MARKERS),
        description="verification of a result: 'let me verify', 'check:'")
    restart_markers: list[str] = Field(
        default_factory=lambda: list(RESTART_MARKERS),
        description="abandoning the approach: 'let me start over', 'try another way'")

    @field_validator("backtrack_markers", "self_check_markers", "restart_markers")
    @classmethod
    def _valid(cls, patterns: list[str]) -> list[str]:
        return [text_stats.check_pattern(p) for p in patterns]


class TraceFilterConfig(StrictModel):
    """Bounds on trace tags (inclusive; null = unbounded): e.g. keep SFT traces with backtracks."""

    min_backtracks: int | None = Field(None, ge=0, description="drop traces with fewer backtracks")
    max_backtracks: int | None = Field(None, ge=0, description="drop traces with more backtracks")
    min_self_checks: int | None = Field(None, ge=0, description="drop traces with fewer self-checks")
    max_self_checks: int | None = Field(None, ge=0, description="drop traces with more self-checks")
    min_restarts: int | None = Field(None, ge=0, description="drop traces with fewer restarts")
    max_restarts: int | None = Field(None, ge=0, description="drop traces with more restarts")
    min_n_tokens: int | None = Field(None, ge=0, description="drop traces with fewer tokens")
    max_n_tokens: int | None = Field(None, ge=0, description="drop traces with more tokens")


def trace_tags(generations: pa.Table, cfg: TraceTagConfig, *, text_column: str = "response",
               id_column: str = "generation_id") -> pa.Table:
    """One trace_tags row per generation (n_tokens: the recorded count, else tokenizer-free)."""
    require_columns(generations, [text_column, id_column], "generations")
    texts = text_stats.as_arrow(generations.column(text_column))
    n_tokens = text_stats.approx_token_counts(texts)
    if "n_tokens" in generations.column_names:
        recorded = pc.fill_null(generations.column("n_tokens").cast(pa.int64()), -1).to_numpy()
        n_tokens = np.where(recorded < 0, n_tokens, recorded)
    columns = {
        "generation_id": generations.column(id_column).cast(pa.string()),
        "n_chars": pc.utf8_length(texts).cast(pa.int64()),
        "n_tokens": pa.array(n_tokens, pa.int64()),
        "backtracks": count_markers(texts, cfg.backtrack_markers),
        "self_checks": count_markers(texts, cfg.self_check_markers),
        "restarts": count_markers(texts, cfg.restart_markers),
    }
    return pa.table(columns, schema=TRACE_TAGS_SCHEMA)


def count_markers(texts, patterns: list[str]) -> pa.Array:
    """Non-overlapping matches of any of the patterns, per text (case-insensitive)."""
    if not patterns:
        return pa.array(np.zeros(len(texts), np.int64))
    joined = "(?i)" + "|".join(f"(?:{p})" for p in patterns)
    return pc.count_substring_regex(text_stats.as_arrow(texts), joined).cast(pa.int64())


def trace_filter(generations: pa.Table, cfg: TraceFilterConfig, *, tags: pa.Table,
                 id_column: str = "generation_id", table_name: str = "generations") -> StepResult:
    """Keep generations whose tags lie within the bounds; rows without tags are kept."""
    require_columns(generations, [id_column], table_name)
    by_id = {gid: i for i, gid in enumerate(tags.column("generation_id").to_pylist())}
    position = [by_id.get(gid) for gid in generations.column(id_column).to_pylist()]
    checks = {}
    for column in TAG_COLUMNS:
        low, high = getattr(cfg, f"min_{column}"), getattr(cfg, f"max_{column}")
        if low is None and high is None:
            continue
        values = tags.column(column).to_pylist()
        checks[f"trace.{column}"] = [_bound_reason(column, None if p is None else values[p], low, high)
                                     for p in position]
    return keep_rows(generations, checks, id_column=id_column, table_name=table_name)


def _bound_reason(column: str, value, low, high) -> str | None:
    if value is None:
        return None
    if low is not None and value < low:
        return f"{column} {value} < min {low}"
    if high is not None and value > high:
        return f"{column} {value} > max {high}"
    return None
