"""The report's figures: one function per panel, Arrow rows in, a matplotlib Figure out.

Figures are built on `matplotlib.figure.Figure` (Agg canvas) rather than pyplot, so no global
backend or figure state is touched and a report can render in any thread.
"""

import io
import math
from collections import defaultdict

import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PASS_RATE_BINS = np.linspace(0.0, 1.0, 11)
MAX_PANELS = 12  # tasks or metrics drawn; the rest are named in a note
MAX_BARS = 20  # skills or filter steps drawn per chart


class NothingToPlot(Exception):
    """The rows exist but hold nothing drawable (e.g. a loop table without numeric columns)."""


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp or version metadata, so equal data give equal bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _grid(n_axes: int, *, width: float = 10.0, row_height: float = 2.8, ncols: int = 3):
    ncols = min(ncols, n_axes)
    nrows = math.ceil(n_axes / ncols)
    figure = Figure(figsize=(width, row_height * nrows + 0.6), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for extra in axes[n_axes:]:
        extra.set_visible(False)
    return figure, axes[:n_axes]


def _whole_numbers(axis) -> None:
    """Counts get integer ticks (no 0.25 prompts)."""
    axis.set_major_locator(MaxNLocator(integer=True))


def _groups(rows: list[dict], key: str) -> dict:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return dict(grouped)


def plot_pass_rates(table: pa.Table) -> Figure:
    """Pass-rate histogram per task (one line per model when several models were scored)."""
    by_task = _groups(table.to_pylist(), "task")
    tasks = sorted(by_task)[:MAX_PANELS]
    figure, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        models = _groups(by_task[task], "model")
        for model, rows in sorted(models.items(), key=lambda kv: str(kv[0])):
            ax.hist([r["pass_rate"] for r in rows], bins=PASS_RATE_BINS, weights=[r["n"] for r in rows],
                    histtype="stepfilled" if len(models) == 1 else "step", alpha=0.8, label=str(model))
        ax.set(title=str(task), xlabel="pass rate", ylabel="prompts", xlim=(0, 1))
        _whole_numbers(ax.yaxis)
        if len(models) > 1:
            ax.legend(fontsize=7)
    figure.suptitle("Pass rate over k samples, per task")
    return figure


def plot_difficulty(table: pa.Table) -> Figure:
    """Stacked bars: prompts per difficulty bucket for each source, easiest bucket first."""
    rows = table.to_pylist()
    weight, total = defaultdict(float), defaultdict(int)
    for row in rows:
        total[row["bucket"]] += row["n"]
        weight[row["bucket"]] += (row["mean_pass_rate"] or 0.0) * row["n"]
    buckets = sorted(total, key=lambda b: -weight[b] / total[b])
    sources = sorted({row["source"] for row in rows})
    counts = {(row["source"], row["bucket"]): row["n"] for row in rows}
    figure = Figure(figsize=(10, 0.5 * len(sources) + 2.0), layout="constrained")
    ax = figure.subplots()
    colors = _ramp(len(buckets))
    left = np.zeros(len(sources))
    for bucket, color in zip(buckets, colors):
        widths = np.array([counts.get((s, bucket), 0) for s in sources], dtype=float)
        ax.barh(sources, widths, left=left, color=color, label=str(bucket))
        left += widths
    ax.set(xlabel="prompts", title="Difficulty buckets by source (easiest first)")
    _whole_numbers(ax.xaxis)
    ax.legend(ncols=min(len(buckets), 6), fontsize=8, loc="lower right")
    return figure


def _ramp(n: int) -> list:
    from matplotlib import colormaps

    return [colormaps["RdYlGn_r"](x) for x in np.linspace(0.1, 0.9, max(n, 1))][:n]


def plot_lengths(table: pa.Table) -> Figure:
    """Response length by correctness, and accuracy per length bin."""
    rows = table.to_pylist()
    tokens = np.array([r["n_tokens"] for r in rows], dtype=float)
    counts = np.array([r["n"] for r in rows], dtype=float)
    correct = np.array([bool(r["correct"]) for r in rows])
    edges = np.histogram_bin_edges(tokens, bins=min(20, max(2, len(np.unique(tokens)))))
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    for flag, label, color in ((True, "correct", "tab:green"), (False, "incorrect", "tab:red")):
        pick = correct == flag
        left.hist(tokens[pick], bins=edges, weights=counts[pick], alpha=0.5, label=label, color=color)
    left.set(xlabel="response tokens", ylabel="generations", title="Length by correctness")
    left.legend(fontsize=8)
    _whole_numbers(left.yaxis)
    coarse = np.histogram_bin_edges(tokens, bins=min(10, len(edges) - 1))
    all_n, _ = np.histogram(tokens, bins=coarse, weights=counts)
    right_n, _ = np.histogram(tokens[correct], bins=coarse, weights=counts[correct])
    centers, seen = (coarse[:-1] + coarse[1:]) / 2, all_n > 0
    right.plot(centers[seen], right_n[seen] / all_n[seen], marker="o")
    right.set(xlabel="response tokens", ylabel="share correct", ylim=(-0.02, 1.02),
              title="Accuracy by length")
    return figure


def plot_skills(table: pa.Table) -> Figure:
    """Skill coverage (prompts per skill) and the missing-skill profile (1 - mean pass rate)."""
    rows = table.to_pylist()
    covered = rows[:MAX_BARS]
    scored = sorted((r for r in rows if r["n_scored"]), key=lambda r: r["mean_pass_rate"])[:MAX_BARS]
    height = 0.32 * max(len(covered), len(scored), 3) + 1.4
    figure = Figure(figsize=(10, height), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.barh([r["name"] for r in covered][::-1], [r["n_prompts"] for r in covered][::-1], color="tab:blue")
    left.set(xlabel="prompts tagged", title="Skill coverage")
    _whole_numbers(left.xaxis)
    if scored:
        names = [r["name"] for r in scored][::-1]
        right.barh(names, [1 - r["mean_pass_rate"] for r in scored][::-1], color="tab:red")
        right.set(xlim=(0, 1), xlabel="1 - mean pass rate", title="Missing-skill profile (weakest on top)")
    else:
        right.text(0.5, 0.5, "no pass rates for tagged prompts yet", ha="center", va="center")
        right.set_axis_off()
    return figure


def plot_skill_mix(table: pa.Table) -> Figure:
    """Share of SFT examples per skill before and after STAT-Sel; missing skills are starred."""
    rows = table.to_pylist()[:MAX_BARS][::-1]
    figure = Figure(figsize=(10, 0.4 * max(len(rows), 3) + 1.4), layout="constrained")
    axis = figure.subplots()
    names = [("* " if r["missing"] else "") + r["name"] for r in rows]
    ys = list(range(len(rows)))
    axis.barh([y + 0.2 for y in ys], [r["share_before"] for r in rows], height=0.4, color="tab:gray", label="before")
    axis.barh([y - 0.2 for y in ys], [r["share_after"] for r in rows], height=0.4, color="tab:red", label="after")
    axis.set_yticks(ys, names)
    axis.set(xlim=(0, 1), xlabel="share of SFT examples", title="SFT skill mix before / after STAT-Sel (* missing)")
    axis.legend(loc="lower right")
    return figure


def plot_splits(table: pa.Table) -> Figure:
    """Rows per split (latest version), and the mix of rows by split kind."""
    rows = table.to_pylist()
    kinds = sorted({r["kind"] for r in rows})
    color = {kind: f"C{i}" for i, kind in enumerate(kinds)}
    figure = Figure(figsize=(10, 0.35 * len(rows) + 2.0), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[2, 1])
    left.barh([f"{r['split_name']} v{r['version']}" for r in rows][::-1],
              [r["n_rows"] for r in rows][::-1], color=[color[r["kind"]] for r in rows][::-1])
    left.set(xlabel="rows", title="Split sizes (latest versions)")
    _whole_numbers(left.xaxis)
    totals = [sum(r["n_rows"] for r in rows if r["kind"] == kind) for kind in kinds]
    if sum(totals):
        right.pie(totals, labels=kinds, colors=[color[k] for k in kinds], autopct="%1.0f%%")
    right.set(title="Mix by kind")
    return figure


def plot_filter_losses(table: pa.Table) -> Figure:
    """Dropped rows per filter/dedup step, stacked by reason."""
    rows = table.to_pylist()
    per_step = defaultdict(int)
    for row in rows:
        per_step[(row["table_name"], row["step"])] += row["n"]
    steps = sorted(per_step, key=lambda s: -per_step[s])[:MAX_BARS][::-1]
    per_reason = defaultdict(int)
    for row in rows:
        per_reason[row["reason"]] += row["n"]
    reasons = sorted(per_reason, key=lambda reason: -per_reason[reason])
    counts = {(r["table_name"], r["step"], r["reason"]): r["n"] for r in rows}
    figure = Figure(figsize=(10, 0.4 * len(steps) + 2.0), layout="constrained")
    ax = figure.subplots()
    left = np.zeros(len(steps))
    for i, reason in enumerate(reasons[:10]):
        widths = np.array([counts.get((t, s, reason), 0) for t, s in steps], dtype=float)
        ax.barh([f"{t}: {s}" for t, s in steps], widths, left=left, label=str(reason), color=f"C{i}")
        left += widths
    ax.set(xlabel="rows dropped", title="Filter and dedup losses by step and reason")
    _whole_numbers(ax.xaxis)
    ax.legend(fontsize=7, loc="lower right")
    return figure


def plot_train_metrics(table: pa.Table) -> Figure:
    """One chart per metric, one line per training run."""
    by_metric = _groups(table.to_pylist(), "metric")
    metrics = sorted(by_metric)[:MAX_PANELS]
    figure, axes = _grid(len(metrics))
    for ax, metric in zip(axes, metrics):
        runs = _groups(by_metric[metric], "run_id")
        for run_id, rows in sorted(runs.items()):
            ax.plot([r["step"] for r in rows], [r["value"] for r in rows], label=str(run_id)[:16])
        ax.set(title=str(metric), xlabel="step")
        if len(runs) > 1:
            ax.legend(fontsize=7)
    figure.suptitle("Training curves")
    return figure


def plot_loop_rounds(table: pa.Table) -> Figure:
    """Every numeric column of the loop's rounds against the round number."""
    names = table.column_names
    round_col = next((n for n in ("round", "round_index", "iteration") if n in names),
                     next((n for n in names if "round" in n.lower()
                           and pa.types.is_integer(table.schema.field(n).type)), None))
    values = [n for n in names if n != round_col and not n.endswith("_id")
              and _is_number(table.schema.field(n).type)][:MAX_PANELS]
    if not values:
        raise NothingToPlot(f"loop_rounds has no numeric columns to plot (columns: {', '.join(names)})")
    loops = defaultdict(list)  # one line per loop: several loops can share a lake
    for row in table.to_pylist():
        loops[row.get("loop_id") or ""].append(row)
    figure, axes = _grid(len(values))
    for ax, name in zip(axes, values):
        for loop_id, rows in sorted(loops.items()):
            if round_col:
                rows.sort(key=lambda r: (r[round_col] is None, r[round_col] or 0))
            x = [r[round_col] for r in rows] if round_col else list(range(len(rows)))
            ax.plot(x, [None if r[name] is None else float(r[name]) for r in rows], marker="o", label=loop_id)
        ax.set(title=name, xlabel=round_col or "row")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(loops) > 1:
            ax.legend(fontsize=7)
    figure.suptitle("Loop rounds")
    return figure


def _is_number(arrow_type: pa.DataType) -> bool:
    return (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
            or pa.types.is_decimal(arrow_type))
