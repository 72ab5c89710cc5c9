"""The report's lake queries: SQL built by small functions, aggregated in the lake, run read-only.

Each panel (flows/report_panels.py) names the tables it needs; a panel whose table is absent
(e.g. `loop_rounds` before the first loop) or empty is skipped with a note instead of failing
the report.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from schemas.lake import Lake
from schemas.lake_sql import literal, quote


class PanelQuery(Protocol):
    """What fetching needs of a panel: its key, tables that must have rows, tables that need only
    exist, and its SQL."""

    key: str
    tables: tuple[str, ...]
    optional: tuple[str, ...]
    sql: str


def pass_rates_sql() -> str:
    """Prompt counts per (task, model, pass rate): a histogram's input, aggregated in the lake."""
    return ("SELECT coalesce(p.task, '?') AS task, s.model, round(s.pass_rate, 4) AS pass_rate, "
            "count(*) AS n FROM prompt_stats AS s JOIN prompts AS p USING (prompt_id) "
            "GROUP BY ALL ORDER BY task, s.model, pass_rate")


def difficulty_sql() -> str:
    """Prompts per (source, difficulty bucket), with each bucket's mean pass rate for ordering."""
    return ("SELECT coalesce(p.source, '?') AS source, coalesce(s.difficulty_bucket, '?') AS bucket, "
            "count(*) AS n, avg(s.pass_rate) AS mean_pass_rate "
            "FROM prompt_stats AS s JOIN prompts AS p USING (prompt_id) GROUP BY ALL ORDER BY source")


def lengths_sql() -> str:
    """Generations per (correct, n_tokens); a generation is correct when all its verdicts say so."""
    return ("WITH per_generation AS (SELECT g.generation_id, any_value(g.n_tokens) AS n_tokens, "
            "bool_and(v.correct) AS correct FROM generations AS g "
            "JOIN verdicts AS v USING (generation_id) GROUP BY g.generation_id) "
            "SELECT correct, n_tokens, count(*) AS n FROM per_generation "
            "WHERE n_tokens IS NOT NULL AND correct IS NOT NULL GROUP BY ALL ORDER BY n_tokens")


def skills_sql() -> str:
    """Per skill: prompts tagged, prompts with stats, mean pass rate, prompts never solved."""
    return ("SELECT k.skill_id, coalesce(k.name, k.skill_id) AS name, "
            "count(DISTINCT ps.prompt_id) AS n_prompts, count(s.pass_rate) AS n_scored, "
            "avg(s.pass_rate) AS mean_pass_rate, "
            "count(DISTINCT CASE WHEN s.pass_rate = 0 THEN ps.prompt_id END) AS n_unsolved "
            "FROM skills AS k LEFT JOIN prompt_skills AS ps USING (skill_id) "
            "LEFT JOIN prompt_stats AS s USING (prompt_id) GROUP BY ALL ORDER BY n_prompts DESC, name")


def skill_mix_sql() -> str:
    """The latest curate run's SFT skill mix before and after STAT-Sel, per skill."""
    return ("SELECT coalesce(name, skill_id) AS name, missing, n_before, n_after, share_before, share_after "
            "FROM skill_mix WHERE run_id = (SELECT m.run_id FROM skill_mix AS m LEFT JOIN runs AS r USING (run_id) "
            "ORDER BY r.started DESC NULLS LAST, m.run_id DESC LIMIT 1) "
            "ORDER BY missing DESC, share_after DESC, name")


def splits_sql() -> str:
    """The latest version of every split: name, kind, rows."""
    return ("SELECT split_name, version, kind, table_name, n_rows FROM splits "
            "QUALIFY row_number() OVER (PARTITION BY split_name ORDER BY version DESC) = 1 "
            "ORDER BY kind, split_name")


def filter_losses_sql() -> str:
    """Dropped rows per (table, step, reason), largest first."""
    return ("SELECT table_name, step, coalesce(reason, '?') AS reason, count(*) AS n FROM filter_log "
            "GROUP BY ALL ORDER BY n DESC, table_name, step, reason")


def train_metrics_sql() -> str:
    """Every training metric point, by run and metric, in step order."""
    return "SELECT run_id, metric, step, value FROM train_metrics ORDER BY run_id, metric, step"


def loop_rounds_sql() -> str:
    """Every loop round as the loop wrote it (its columns are the loop's own)."""
    return "SELECT * FROM loop_rounds"


def table_counts_sql(tables: list[str]) -> str:
    """Row counts of several tables in one statement."""
    parts = [f"SELECT {literal(t)} AS table_name, count(*) AS n_rows FROM {quote(t)}" for t in tables]
    return " UNION ALL ".join(parts) + " ORDER BY table_name"


@dataclass
class ReportData:
    """What the lake holds: row counts per table, and each panel's rows or the reason it has none."""

    version: int | None
    counts: dict[str, int]
    panels: dict[str, pa.Table]
    missing: dict[str, str]


def fetch_report_data(lake: Lake, panels: Sequence[PanelQuery]) -> ReportData:
    """Run every panel query whose tables exist (two lake connections in all); note why others are out."""
    names, latest = lake.query_many([
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake' ORDER BY table_name",
        "SELECT max(snapshot_id) AS version FROM ducklake_snapshots('lake')"])
    names = names.column("table_name").to_pylist()
    present = [p for p in panels if all(t in names for t in p.tables + p.optional)]
    if not names:  # a catalog with no tables yet
        return ReportData(latest.column("version")[0].as_py(), {}, {},
                          {p.key: "the lake has no tables yet" for p in panels})
    counts_table, *results = lake.query_many([table_counts_sql(names)] + [p.sql for p in present])
    counts = dict(zip(counts_table.column("table_name").to_pylist(),
                      counts_table.column("n_rows").to_pylist()))
    rows_of = dict(zip([p.key for p in present], results))
    drawn, missing = {}, {}
    for panel in panels:
        absent = [t for t in panel.tables + panel.optional if t not in counts]
        empty = [t for t in panel.tables if counts.get(t) == 0]
        if absent:
            missing[panel.key] = f"{_tables(absent)} not in this lake yet"
        elif empty:
            missing[panel.key] = f"{_tables(empty)} empty"
        elif rows_of[panel.key].num_rows == 0:
            missing[panel.key] = f"no rows join across {', '.join(panel.tables)}"
        else:
            drawn[panel.key] = rows_of[panel.key]
    return ReportData(latest.column("version")[0].as_py(), counts, drawn, missing)


def _tables(names: list[str]) -> str:
    """'table x is' or 'tables x, y are', for notes."""
    return f"table {names[0]} is" if len(names) == 1 else f"tables {', '.join(names)} are"
