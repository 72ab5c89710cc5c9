"""Summaries of `make efficacy`'s result files (docs/efficacy/<profile>/: experiment.json and
runs/<arm>.seed<N>.json): per-arm accuracy over seeds and the paired comparisons of
benchmarks/efficacy_plan.py. benchmarks/efficacy_render.py turns them into docs/results.md and the
README block; nothing here trains or evaluates.

    python benchmarks/efficacy_report.py          # re-render docs/results.md and the README block
"""

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.efficacy_plan import (  # noqa: E402
    COMPARISONS, CURVE_ARMS, QUESTIONS, arms_for, at_step, budget_comparisons, curve_comparisons, curve_points,
    long_grpo_options)
from benchmarks.efficacy_stats import paired, t_interval, wilson  # noqa: E402

RESULTS_ROOT = ROOT / "docs" / "efficacy"
PROFILE_ORDER = ["cpu", "gpu", "quick"]  # full sizes first; a smoke profile last


def load_profile(directory: Path) -> dict:
    """experiment.json and every finished run of one results directory."""
    experiment = json.loads((directory / "experiment.json").read_text(encoding="utf-8"))
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((directory / "runs").glob("*.json"))]
    return {"name": directory.name, "experiment": experiment, "runs": runs}


def profiles(root: Path = RESULTS_ROOT) -> list[dict]:
    """Every results directory under `root` that has an experiment.json, full profiles first."""
    found = [load_profile(d) for d in sorted(root.glob("*")) if (d / "experiment.json").exists()]
    rank = {name: i for i, name in enumerate(PROFILE_ORDER)}
    return sorted(found, key=lambda p: (p["experiment"]["mode"] == "smoke", rank.get(p["name"], 99), p["name"]))


def arm_summary(runs: list[dict]) -> dict:
    """Accuracy over seeds (t interval), pooled Wilson interval, per-task means, training facts."""
    accuracy = {r["seed"]: r["eval"]["accuracy"] for r in runs}
    interval = t_interval(list(accuracy.values()))
    hits, n = sum(r["eval"]["correct"] for r in runs), sum(r["eval"]["n"] for r in runs)
    tasks = sorted(runs[0]["eval"]["per_task"])
    per_task = {t: statistics.fmean(r["eval"]["per_task"][t][1] / r["eval"]["per_task"][t][0] for r in runs)
                for t in tasks}
    return {"accuracy": accuracy, "mean": interval.mean, "half": interval.half, "wilson": wilson(hits, n),
            "per_task": per_task, "answer_tokens": statistics.fmean(r["eval"]["mean_tokens"] for r in runs),
            "steps": [sum(s.get("steps", 0) for s in r["stages"]) for r in runs],
            "stages": [f"{s['trainer']} on {s['data']}" for s in runs[0]["stages"]],
            # an arm whose training spec equals another's reuses that run (e.g. enough gold rows already)
            "same_as": sorted({r["same_run_as"].split(".seed")[0] for r in runs if r.get("same_run_as")}
                              - {runs[0]["arm"]}),
            "data": [s.get("data_facts", {}) for s in runs[0]["stages"]]}


def curve_of(config: dict) -> list[int]:
    """The steps at which the long GRPO runs were evaluated ([] for results from before they existed)."""
    if "curve" not in config:
        return []
    options = long_grpo_options(config["grpo"], config["curve"]["grpo"])
    return curve_points(options["max_steps"], config["curve"]["every"])


def at_point(run: dict, step: int, last: int) -> dict:
    """A long run as its checkpoint after `step` GRPO steps: that eval, its last stage cut to `step`."""
    if step == last:
        return run
    return {**run, "eval": run["eval_at"][str(step)], "stages": run["stages"][:-1] + [{**run["stages"][-1],
                                                                                         "steps": step}]}


def summarize(profile: dict) -> dict:
    """The profile's arms (finished and pending; a long run once per evaluated step) and comparisons."""
    config = profile["experiment"]["config"]
    seeds, shares, points = config["seeds"], config["budget"]["sft_shares"], curve_of(config)
    by_arm: dict[str, list[dict]] = {}
    for run in profile["runs"]:
        by_arm.setdefault(run["arm"], []).append(run)
    arms = []
    for arm in arms_for(shares):
        views = [(at_step(arm.name, k), f"{arm.label}, after {k} steps", k) for k in points] if arm.curve \
            else [(arm.name, arm.label, None)]
        finished = sorted(by_arm.get(arm.name, []), key=lambda r: r["seed"])
        for name, label, step in views:
            runs = finished if step is None else [at_point(r, step, points[-1]) for r in finished]
            pending = [s for s in seeds if s not in {r["seed"] for r in runs}]
            arms.append({"name": name, "label": label, "pending": pending,
                         "summary": arm_summary(runs) if runs else None})
    found = {a["name"]: a["summary"]["accuracy"] for a in arms if a["summary"]}
    compared = [compare(c, found) for c in COMPARISONS + budget_comparisons(shares) + curve_comparisons(points)]
    return {"name": profile["name"], "experiment": profile["experiment"], "arms": arms, "comparisons": compared,
            "curve": {"points": points, **moves_at(compared, points)}}


def moves_at(compared: list[dict], points: list[int]) -> dict:
    """The first evaluated step at which long GRPO from the base model differs from it (CI excludes 0),
    and by how much (either way: a step count can move a model down)."""
    by_pair = {(c["treatment"], c["baseline"]): c for c in compared}
    for step in points:
        c = by_pair[(at_step(CURVE_ARMS[0].name, step), "base")]
        if not c["pending"] and c["verdict"] == "CI excludes 0":
            return {"moves_at": step, "moved_by": c["mean"]}
    return {"moves_at": None, "moved_by": None}


def compare(comparison, accuracy: dict[str, dict]) -> dict:
    """treatment - baseline paired by seed; `pending` when either side has no finished seed."""
    out = {"question": comparison.question, "question_title": QUESTIONS[comparison.question],
           "treatment": comparison.treatment, "baseline": comparison.baseline, "says": comparison.says}
    both = paired(accuracy.get(comparison.treatment, {}), accuracy.get(comparison.baseline, {}))
    if both is None:
        return {**out, "pending": True}
    interval, diffs = both
    verdict = ("one seed: no CI" if interval.half is None else
               "CI excludes 0" if interval.excludes_zero else "not distinguishable from 0")
    return {**out, "pending": False, "mean": interval.mean, "half": interval.half, "n": interval.n,
            "diffs": diffs, "verdict": verdict}


def publish(cfg=None, *, root: Path = RESULTS_ROOT, results_md: Path | None = None, readme: Path | None = None) -> None:
    """Re-render docs/results.md and the README's efficacy block from every results directory."""
    from benchmarks.efficacy_render import render_results, replace_block, render_readme_block

    summaries = [summarize(p) for p in profiles(root)]
    results_md = results_md or ROOT / "docs" / "results.md"
    readme = readme or ROOT / "README.md"
    results_md.write_text(render_results(summaries), encoding="utf-8")
    readme.write_text(replace_block(readme.read_text(encoding="utf-8"), render_readme_block(summaries)),
                      encoding="utf-8")


def main() -> int:
    publish()
    print(json.dumps({"name": "efficacy_report", "profiles": [p["name"] for p in profiles()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
