"""docs/scaling.md from benchmarks/scaling.json: every number in it comes from that file.

    python benchmarks/scaling_report.py    # rewrite the doc from the committed JSON
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_config import regenerate_doc, write_doc  # noqa: E402

RESULT = ROOT / "benchmarks" / "scaling.json"
BEFORE = ROOT / "benchmarks" / "scaling_before_fixes.json"  # a run of the code before the fixes
DOC = ROOT / "docs" / "scaling.md"

# What removes a step's limit when one is flagged (prose, no numbers).
SCALE_OUT = {
    "load": "the JSONL and Parquet loaders check every record in Python (file, line and field in each error) and "
            "hold all rows as Python objects once. Path (not built yet): split large sources into several files "
            "and load them in separate processes or Ray workers, or read each file in batches and append each "
            "batch to the lake before the next.",
    "quality": "independent per prompt and chunked: shard prompts over processes or Ray workers.",
    "exact_dedup": "a hash per row; path: partition rows by that hash over workers and dedup each partition.",
    "near_dedup": "the signature matrix (n x num_perm uint32) stays in memory; path: partition by LSH band key "
                  "over workers (each band's buckets are independent), or lower num_perm.",
    "decontam": "chunked, so its working memory is flat; shard prompts over workers for time.",
    "skill_tagging": "model-bound (MiniLM on the CPU) and chunked, so its memory is flat. Path: embed on a GPU "
                     "(`load_minilm` takes a device; the skills stage does not pass one yet), or shard prompts over "
                     "Ray workers with a model each; or tag by task metadata only (`skills.tagging: none`).",
    "prompt_stats": "Arrow group-bys over the samples in memory; path: the same aggregate as SQL in the lake "
                    "(DuckDB reads the Parquet files without loading them; the Postgres lake for several hosts).",
    "splits": "holds every sample of the run in one process and builds the SFT rows, pairs and mix in per-row "
              "Python. Path (not built yet): build the splits per prompt shard on Ray workers, each reading "
              "its shard from the lake (every step is per prompt except the mix budget, which needs only each "
              "row's cost and attributes); at 10M prompts (80M samples at k=8) it is the only way.",
    "lake_commit": "one DuckDB transaction per commit; the Postgres catalog lets several writers commit shards.",
    "lake_recommit": "the upsert deletes by key with a hash join; the Postgres catalog spreads commits over hosts.",
}
FIXES = [  # what the measurements led to; the before/after table above has the numbers
    "decontamination looked up every prompt n-gram with two binary searches and deduplicated all (n-gram, "
    "prompt) pairs first: now a hash-set probe picks the few hits and only those are deduplicated and located; "
    "whole-text hashes come from the token hashes (one tokenization, not two); prompts are matched 100k at a "
    "time, so memory is flat",
    "near dedup held every prompt's shingle hashes and the signature scratch arrays at once (its time slope "
    "rose above n log n as they outgrew the caches): now texts are shingled and sketched 100k at a time, and "
    "exact verification re-hashes only the texts of unsure pairs",
    "quality filters hashed every prompt's n-grams at once for the repetition check: now 100k at a time",
    "skill tagging embedded every prompt at once (n x 384 float32 and a float64 copy): now 8,192 at a time",
    "prompt_stats built a Python dict per sample: now Arrow group-bys",
    "the SFT and preference builders turned every sample into Python objects: now only correct samples "
    "(SFT) and the samples of prompts with both outcomes (pairs) are",
    "the lake commit's last-row-per-key listed row numbers in Python: now numpy",
]


def _gib(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def _runs(step: dict) -> str:
    cells = []
    for run in step["runs"]:
        if "error" in run:
            cells.append(f"{run['n']:,}: not finished ({run['error']})")
        elif "skipped" in run:
            cells.append(f"{run['n']:,}: not run ({run['skipped']})")
        else:
            cells.append(f"{run['n']:,}: {run['seconds']:.2f} s ({run['cpu_s']:.2f} CPU), "
                         f"{run['peak_rss_gib']:.2f} GiB")
    return "<br>".join(cells)


def _exponent(step: dict, kind: str) -> str:
    fit, top = step.get(f"{kind}_exponent"), step.get(f"{kind}_exponent_top")
    return "—" if fit is None else f"{fit:.2f} ({top:.2f})"


def _flags(step: dict, limit: float) -> list[str]:
    flags = []
    if step.get("super_nlogn"):
        flags.append("grows faster than n log n")
    if step.get("over_memory"):
        flags.append(f"over {limit:g} GiB")
    elif (step.get("projected_peak_gib") or 0) > 0.8 * limit:
        flags.append(f"over 80% of {limit:g} GiB")
    if step.get("over_day"):
        flags.append("over a day")
    largest = step["runs"][-1] if step["runs"] else {}
    if "error" in largest or "skipped" in largest:
        flags.append("largest size not measured")
    return flags


def before_after(result: dict, before: dict) -> list[str]:
    """CPU seconds and peak RSS of each step at the sizes both runs measured (CPU time, not wall
    time: the two runs met different loads on the shared machine)."""
    same_model = before["sizes"]["embedding"] == result["sizes"]["embedding"]  # else tagging is not comparable
    old = {(s["step"], r["n"]): r for s in before["steps"] for r in s["runs"]
           if "cpu_s" in r and (same_model or s["step"] != "skill_tagging")}
    lines = ["| step | n | CPU s before | CPU s now | peak GiB before | peak GiB now |",
             "|---|---:|---:|---:|---:|---:|"]
    for step in result["steps"]:
        for run in step["runs"]:
            was = old.get((step["step"], run["n"]))
            if was and "cpu_s" in run:
                lines.append(f"| {step['step']} | {run['n']:,} | {was['cpu_s']:.2f} | {run['cpu_s']:.2f} | "
                             f"{was['peak_rss_gib']:.2f} | {run['peak_rss_gib']:.2f} |")
    return lines


def render(result: dict, before: dict | None = None) -> str:
    """The whole markdown page; `before` (a run of older code) adds a before/after table."""
    m, sizes = result["machine"], result["sizes"]
    target = f"{sizes['project_to']:,}"
    lines = ["# How cost grows", "",
             "Generated by `benchmarks/scaling_report.py` from `benchmarks/scaling.json` "
             "(`python benchmarks/scaling.py`, part of `make bench`); do not edit by hand.", "",
             f"Machine: {m['cpu']}, {m['cores']} usable cores, {m['memory_gib']} GiB RAM shared with other jobs "
             f"(1-minute load {m['load_avg_1m']} at the start); Python {m['python']}, numpy {m['numpy']}, "
             f"pyarrow {m['pyarrow']}, DuckDB {m['duckdb']}.", "",
             f"- Memory: {result['memory']}.",
             "- Synthetic data (`benchmarks/scaling_data.py`): prompts of a median 55 words and symbols "
             f"(lognormal), {sizes['duplicate_share']:.0%} of them copies or near-copies of another, 0.1% bundled "
             f"eval items; splits: {sizes['samples_per_prompt']} samples per prompt, responses of a median 75 "
             "tokens drawn from a pool, pass rates in {0, .25, .5, .75, 1}.",
             "- Exponent: log-log slope against n of CPU time (process time, all threads; the other jobs on "
             "this machine disturb it less than wall time) and of working memory (peak RSS above the RSS with "
             "the step's inputs built), over all sizes, and in brackets over the two largest, which the "
             "projection uses. n log n has a slope of about 1.09 at these sizes; a time slope over 1.2 is "
             "flagged. Small sizes are dominated by fixed costs, so the bracketed slope is the honest one; "
             "chunked steps have a working-memory slope near 0.",
             f"- Projected at {target} rows: wall time by the time exponent; peak memory = the inputs, grown "
             "linearly as the two largest sizes grew them, plus the working memory grown by its exponent. RSS "
             "includes shared-library pages, which the kernel drops under memory pressure (a few hundred MiB "
             "of noise between runs).",
             "- A size is not run when its projected memory exceeds what the shared machine has free; a run "
             "stopped for want of memory shows as killed.", "",
             f"| step | n counts | measured (n: wall time, peak RSS) | time exponent | memory exponent | "
             f"projected at {target}: s | GiB | flags |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for step in result["steps"]:
        flags = ", ".join(_flags(step, sizes["memory_limit_gib"])) or "ok"
        lines.append(f"| {step['step']} | {step['counts']} | {_runs(step)} | {_exponent(step, 'time')} | "
                     f"{_exponent(step, 'memory')} | {step.get('projected_seconds', '—')} | "
                     f"{_gib(step.get('projected_peak_gib'))} | {flags} |")
    if before is not None:
        lines += ["", "## Before and after the fixes", "", f"Before: {before['code']}.", "",
                  *before_after(result, before)]
    lines += ["", "## Fixed", "", *[f"- {fix}." for fix in FIXES]]
    flagged = [s for s in result["steps"] if _flags(s, sizes["memory_limit_gib"])]
    lines += ["", "## Limits and the scale-out path that removes them", ""]
    if not flagged:
        lines.append(f"No step is flagged: each grows at most like n log n and fits "
                     f"{sizes['memory_limit_gib']:g} GiB at {target} rows.")
    for step in flagged:
        lines.append(f"- **{step['step']}** ({', '.join(_flags(step, sizes['memory_limit_gib']))}): "
                     f"{SCALE_OUT[step['step']][0].upper()}{SCALE_OUT[step['step']][1:]}")
    return "\n".join(lines) + "\n"


def render_with_before(result: dict) -> str:
    """render() with the committed run of the code before the fixes, when there is one."""
    return render(result, json.loads(BEFORE.read_text()) if BEFORE.exists() else None)


def write_report(result: dict, path: Path = DOC) -> Path:
    """Write the markdown page for this result."""
    return write_doc(render_with_before, result, path)


if __name__ == "__main__":
    regenerate_doc(render_with_before, RESULT, DOC, sys.argv)
