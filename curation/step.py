"""The curation step contract: every step returns a StepResult, and every drop is a filter_log row.

A step is a plain function over a table and a small config. Like a datatrove filter, it says per
row "keep" (None) or "drop, because ..." (a reason); `keep_rows` turns those answers into the
kept rows and the drop log, so no step builds either by hand:

    def drop_word(prompts, cfg):
        reasons = [f"contains '{cfg.word}'" if cfg.word in text else None
                   for text in prompts.column("prompt").to_pylist()]
        return keep_rows(prompts, {"banned_word": reasons}, id_column="prompt_id", table_name="prompts")

Steps that record more than kept and dropped rows (dedup clusters, decontamination hits, the
curriculum schedule) put those tables in `side`, by lake table name.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from schemas.errors import InputError
from schemas.tables import step_schema

DROP_LOG_SCHEMA = step_schema("filter_log")


@dataclass(frozen=True)
class StepResult:
    """A step's output: rows kept, one filter_log row per drop (with its reason), side tables."""

    kept: pa.Table
    dropped: pa.Table = field(default_factory=lambda: drop_log([], "", ""))
    side: dict[str, pa.Table] = field(default_factory=dict)


def drop_log(dropped: Sequence[tuple[str, str]], table_name: str, step: str) -> pa.Table:
    """filter_log rows (no run_id: the lake stamps it) from (record_id, reason) pairs of one table
    dropped by one step."""
    return pa.table([pa.array([record for record, _ in dropped], pa.string()),
                     pa.array([table_name] * len(dropped), pa.string()), pa.array([step] * len(dropped), pa.string()),
                     pa.array([reason for _, reason in dropped], pa.string())], schema=DROP_LOG_SCHEMA)


def keep_rows(table: pa.Table, checks: dict[str, Sequence[str | None]], *, id_column: str, table_name: str,
              side: dict[str, pa.Table] | None = None) -> StepResult:
    """Keep the rows every check passed (reason None); log one row per (row, failed check), with the
    check's name as the step. `checks` maps step name -> one reason or None per row."""
    ids = table.column(id_column).to_pylist()
    failed = np.zeros(table.num_rows, bool)
    parts = []
    for step, reasons in checks.items():
        if len(reasons) != table.num_rows:
            raise ValueError(f"check {step}: {len(reasons)} answers for {table.num_rows} rows")
        rows = [i for i, reason in enumerate(reasons) if reason is not None]
        failed[rows] = True
        parts.append(drop_log([(ids[i], reasons[i]) for i in rows], table_name, step))
    dropped = pa.concat_tables(parts) if parts else drop_log([], table_name, "")
    return StepResult(table.filter(pa.array(~failed)), dropped, dict(side or {}))


def require_columns(table: pa.Table, columns: list[str], table_name: str) -> None:
    """An InputError naming the missing column and the ones that exist."""
    for column in columns:
        if column not in table.column_names:
            raise InputError(f"table '{table_name}' has no column '{column}' "
                             f"(columns: {', '.join(table.column_names)})", field=column)
