"""Every panel of the report, declared once: its title and text, the tables and SQL it reads, the
plot it draws, and how many of its rows the page shows as a table. Add a panel here (with its
SQL in report_queries.py and its plot in report_plots.py) and the report draws it."""

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from matplotlib.figure import Figure

from flows import report_plots as plots
from flows import report_queries as queries


@dataclass(frozen=True)
class PanelSpec:
    """One section of the report page."""

    key: str
    title: str
    text: str
    tables: tuple[str, ...]  # must exist and have rows
    sql: str
    plot: Callable[[pa.Table], Figure]
    optional: tuple[str, ...] = ()  # must exist, may be empty
    table_rows: int = 0  # rows shown as a table under the figure; 0 = none


PANELS = [
    PanelSpec("pass_rates", "Pass rate per task",
              "Share of k samples judged correct, per prompt; RL keeps 0 < pass < 1.",
              ("prompt_stats", "prompts"), queries.pass_rates_sql(), plots.plot_pass_rates),
    PanelSpec("difficulty", "Difficulty by source", "Prompts per difficulty bucket, easiest bucket first.",
              ("prompt_stats", "prompts"), queries.difficulty_sql(), plots.plot_difficulty),
    PanelSpec("lengths", "Response length vs correctness", "Token counts of correct and incorrect generations.",
              ("generations", "verdicts"), queries.lengths_sql(), plots.plot_lengths),
    PanelSpec("skills", "Skill coverage and missing skills", "Prompts per skill; skills the policy fails most.",
              ("skills", "prompt_skills"), queries.skills_sql(), plots.plot_skills, optional=("prompt_stats",),
              table_rows=20),
    PanelSpec("skill_mix", "STAT-Sel: SFT skill mix",
              "Share of SFT examples per skill before and after up-sampling toward the missing skills "
              "(latest curate run; table skill_mix).",
              ("skill_mix",), queries.skill_mix_sql(), plots.plot_skill_mix, optional=("runs",), table_rows=20),
    PanelSpec("splits", "Splits", "Latest version of each split and the mix of rows by kind.",
              ("splits",), queries.splits_sql(), plots.plot_splits, table_rows=50),
    PanelSpec("filter_losses", "Filter and dedup losses", "Rows dropped, by step and reason (table filter_log).",
              ("filter_log",), queries.filter_losses_sql(), plots.plot_filter_losses, table_rows=30),
    PanelSpec("train_metrics", "Training curves", "Metrics logged by training runs (table train_metrics).",
              ("train_metrics",), queries.train_metrics_sql(), plots.plot_train_metrics),
    PanelSpec("loop_rounds", "Loop rounds", "Scores per round of warmstart loop (table loop_rounds).",
              ("loop_rounds",), queries.loop_rounds_sql(), plots.plot_loop_rounds),
]
