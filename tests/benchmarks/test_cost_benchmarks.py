"""The cost benchmarks at their --smoke sizes: every key the reports read is there (numbers are not
checked: timings belong to benchmarks/, not tests), plus the growth fit they rest on."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import decontam_report, scaling_report
from benchmarks.bench_config import load_bench_config
from benchmarks.decontam_leaks import CATEGORIES
from benchmarks.scaling import STEPS, growth, slope

ROOT = Path(__file__).resolve().parents[2]


def smoke(script: str) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def recall():
    return smoke("decontam_recall.py")


@pytest.fixture(scope="module")
def scaling():
    return smoke("scaling.py")


def test_decontam_recall_scores_every_category_under_every_setting(recall):
    sizes = load_bench_config(ROOT / "configs" / "bench.yaml", smoke=True).decontam_recall
    assert recall["smoke"] and [s["name"] for s in recall["settings"]] == [
        s.name for s in sizes.settings if "paraphrase" not in s.config]
    categories = set(CATEGORIES) | {"coincident", "clean_same_task", "clean_unrelated"}
    for setting in recall["settings"]:
        assert set(setting["scores"]) == categories
        for score in setting["scores"].values():
            assert score["n"] == 0 or 0.0 <= score["rate"] <= 1.0
    assert all(recall["counts"][c] > 0 for c in CATEGORIES)
    default = {s["name"]: s["scores"] for s in recall["settings"]}["default"]
    assert default["verbatim"]["rate"] == 1.0 and default["coincident"]["rate"] == 1.0
    assert "## Every setting" in decontam_report.render(recall)


def test_scaling_measures_every_step_at_every_smoke_size(scaling):
    sizes = load_bench_config(ROOT / "configs" / "bench.yaml", smoke=True).scaling
    assert [s["step"] for s in scaling["steps"]] == list(STEPS)
    for step in scaling["steps"]:
        assert [r["n"] for r in step["runs"]] == getattr(sizes, STEPS[step["step"]][1])
        for run in step["runs"]:
            assert "error" not in run, run
            assert run["seconds"] >= 0 and run["peak_rss_gib"] >= run["rss_inputs_gib"] - 0.01 > 0
        assert {"time_exponent", "memory_exponent", "projected_seconds", "projected_peak_gib", "super_nlogn",
                "over_memory", "over_day"} <= set(step)
    assert "| step |" in scaling_report.render(scaling)


def test_growth_flags_quadratic_time_and_memory_past_the_limit():
    sizes = load_bench_config(ROOT / "configs" / "bench.yaml", smoke=False).scaling
    runs = [{"n": n, "seconds": 1.0, "cpu_s": (n / 1e4) ** 2, "rss_base_gib": 0.1, "rss_inputs_gib": 0.2 + n / 1e6,
             "peak_rss_gib": 0.2 + n / 1e6 + n / 1e5} for n in (10_000, 100_000, 1_000_000)]
    fit = growth(runs, sizes)  # quadratic time, inputs 1 GiB per 1M rows, working memory 10 GiB per 1M
    assert fit["time_exponent"] == pytest.approx(2.0) and fit["super_nlogn"]
    assert fit["memory_exponent"] == pytest.approx(1.0) and fit["over_memory"]
    assert fit["projected_peak_gib"] == pytest.approx(0.2 + 10 + 100)
    flat = growth([{**r, "cpu_s": r["n"] / 1e4, "peak_rss_gib": r["rss_inputs_gib"] + 0.5} for r in runs], sizes)
    assert not flat["super_nlogn"] and flat["projected_peak_gib"] == pytest.approx(10.7)
    assert not flat["over_memory"] and not flat["over_day"]
    assert slope([(1, 1.0)]) is None
