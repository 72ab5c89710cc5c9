"""`make efficacy`: the published numbers are the result files' numbers; the statistics, baseline
data and plan do what they claim; a --quick smoke run goes end to end."""

import json
import math
from pathlib import Path

import pytest

from benchmarks import efficacy_data as data
from benchmarks.efficacy_config import load_efficacy_config
from benchmarks.efficacy_plan import (ARMS, COMPARISONS, arms_for, budget_arm, budget_comparisons,
                                      curve_comparisons, curve_points)
from benchmarks.efficacy_render import BEGIN, END, moves_sentence, render_readme_block, render_results, replace_block
from benchmarks.efficacy_report import profiles, summarize
from benchmarks.efficacy_stats import paired, t_interval, wilson
from schemas.config import merge_mappings
from schemas.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "efficacy.yaml"


def committed_summaries() -> list[dict]:
    return [summarize(p) for p in profiles()]


def test_the_readme_block_is_the_rendering_of_the_committed_result_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = BEGIN + readme.split(BEGIN, 1)[1].split(END, 1)[0] + END
    assert block == render_readme_block(committed_summaries()), \
        "README efficacy numbers differ from docs/efficacy/: run benchmarks/efficacy_report.py"


def test_results_md_is_the_rendering_of_the_committed_result_files():
    assert (ROOT / "docs" / "results.md").read_text(encoding="utf-8") == render_results(committed_summaries())


def test_every_committed_result_records_its_mode_profile_and_config():
    for profile in profiles():
        assert profile["experiment"]["mode"] in ("smoke", "full") and profile["experiment"]["config"]["seeds"]
        smoke = profile["experiment"]["mode"] == "smoke"
        assert profile["experiment"]["config"]["smoke"] is smoke
        for run in profile["runs"]:
            assert run["mode"] == profile["experiment"]["mode"] and run["profile"] == profile["name"]
            assert all("config" in stage for stage in run["stages"])


def test_a_changed_result_file_changes_the_readme_block(tmp_path):
    summaries = [s for s in committed_summaries() if any(not c["pending"] for c in s["comparisons"])]
    assert summaries, "no committed efficacy results with a finished comparison"
    comparison = next(c for c in summaries[0]["comparisons"] if not c["pending"])
    before = render_readme_block(summaries[:1]), render_results(summaries[:1])
    comparison["mean"] += 0.123
    assert render_readme_block(summaries[:1]) != before[0] and render_results(summaries[:1]) != before[1]


def test_replace_block_needs_the_markers():
    assert replace_block(f"a\n{BEGIN}\nold\n{END}\nb", f"{BEGIN}\nnew\n{END}") == f"a\n{BEGIN}\nnew\n{END}\nb"
    with pytest.raises(ValueError):
        replace_block("no markers", f"{BEGIN}{END}")


def test_paired_intervals_are_over_the_seeds_both_arms_have():
    interval, diffs = paired({0: 0.5, 1: 0.6, 2: 0.7}, {0: 0.4, 1: 0.4, 3: 0.9})
    assert diffs == pytest.approx({0: 0.1, 1: 0.2}) and interval.n == 2
    assert interval.mean == pytest.approx(0.15)
    assert interval.half == pytest.approx(12.706 * math.sqrt(0.005) / math.sqrt(2))
    assert paired({0: 0.5}, {1: 0.5}) is None
    assert t_interval([0.3]).half is None and not t_interval([0.3]).excludes_zero
    assert t_interval([0.1, 0.11, 0.12]).excludes_zero and not t_interval([-0.1, 0.1, 0.0]).excludes_zero
    low, high = wilson(5, 10)
    assert low < 0.5 < high and wilson(0, 10)[0] == 0.0


def pool(n: int) -> list[dict]:
    return [{"prompt_id": f"p{i}", "prompt": f"q{i}", "answer": str(i), "task": "t"} for i in range(n)]


def count_chars(rows: list[dict]) -> list[int]:
    return [sum(len(m["content"]) for m in row["messages"]) for row in rows]


def test_gold_rows_match_rows_then_pad_to_tokens():
    kwargs = dict(count=count_chars, template="Answer: {answer}",
                  messages=lambda text: [{"role": "user", "content": text}])
    by_rows = data.gold_sft_rows(pool(10), seed=0, rows=4, tokens=0, **kwargs)
    assert len(by_rows) == 4 and {r["origin"] for r in by_rows} == {"gold"}
    assert by_rows[0]["messages"][-1]["content"] == f"Answer: {by_rows[0]['prompt_id'][1:]}"
    by_tokens = data.gold_sft_rows(pool(10), seed=0, rows=4, tokens=200, **kwargs)
    assert sum(count_chars(by_tokens)) >= 200 > sum(count_chars(by_tokens[:-1])) and len(by_tokens) > 10
    assert data.gold_sft_rows(pool(10), seed=1, rows=4, tokens=0, **kwargs) != by_rows


def test_random_rl_prompts_and_budget_split():
    drawn = data.random_rl_rows(pool(10), 4, seed=0)
    assert len({r["prompt_id"] for r in drawn}) == 4 and drawn != data.random_rl_rows(pool(10), 4, seed=1)
    assert data.budget_split(100, 0.25, per_step=2) == (25, 38)
    assert data.budget_split(100, 0.0, per_step=2) == (0, 50)
    assert len(data.budget_sft_rows(pool(10), 3, seed=0)) == 3


def test_the_plan_declares_every_question_and_arm():
    names = {arm.name for arm in arms_for([0.0, 0.1])}
    assert {c.treatment for c in COMPARISONS} | {c.baseline for c in COMPARISONS} <= names
    assert {c.question for c in COMPARISONS} == {"gold", "warmup", "difficulty"}
    assert budget_arm(0.0).stages == next(a for a in ARMS if a.name == "grpo_base").stages
    assert [c.treatment for c in budget_comparisons([0.0, 0.05, 0.25])] == ["budget_05", "budget_25"]
    assert budget_comparisons([0.05]) == []


def test_long_runs_are_evaluated_at_every_point_and_compared_there():
    assert curve_points(60, 20) == [20, 40, 60] and curve_points(50, 20) == [20, 40, 50]
    assert curve_points(2, 5) == [2]
    names = {arm.name for arm in arms_for([])}
    assert {"grpo_base_long", "grpo_warm_long"} <= names
    lines = curve_comparisons([20, 40])
    assert [(c.treatment, c.baseline) for c in lines] == [
        ("grpo_base_long@20", "base"), ("grpo_warm_long@20", "grpo_base_long@20"),
        ("grpo_base_long@40", "base"), ("grpo_warm_long@40", "grpo_base_long@40"),
        ("grpo_warm_long@40", "sft_curated")]


def long_run_profile(base: list[float], long_at: dict[int, list[float]]) -> dict:
    """A made-up results directory: the base model and a long run evaluated at 10 and 20 steps."""
    config = {"seeds": [0, 1, 2], "budget": {"sft_shares": []}, "grpo": {"max_steps": 4},
              "curve": {"every": 10, "grpo": {"max_steps": 20}}}

    def run(arm, seed, accuracy, **extra):
        return {"arm": arm, "seed": seed, "stages": [{"trainer": "grpo", "data": "rl", "steps": 20}],
                "eval": evaluation(accuracy), **extra}

    def evaluation(accuracy):
        return {"accuracy": accuracy, "correct": round(100 * accuracy), "n": 100, "per_task": {"t": [100, 1]},
                "mean_tokens": 5.0}

    runs = [run("base", s, a) for s, a in enumerate(base)]
    runs += [run("grpo_base_long", s, long_at[20][s], eval_at={"10": evaluation(long_at[10][s])})
             for s in range(3)]
    return {"name": "cpu", "experiment": {"config": config}, "runs": runs}


def test_the_report_states_the_first_step_count_that_moves_the_base_model():
    moved = summarize(long_run_profile([0.30, 0.31, 0.32], {10: [0.30, 0.33, 0.31], 20: [0.40, 0.42, 0.41]}))
    arms = {a["name"]: a for a in moved["arms"]}
    assert arms["grpo_base_long@10"]["summary"]["steps"] == [10, 10, 10]
    assert arms["grpo_base_long@20"]["summary"]["mean"] == pytest.approx(0.41)
    assert arms["grpo_warm_long@20"]["pending"] == [0, 1, 2]
    assert moved["curve"] == {"points": [10, 20], "moves_at": 20, "moved_by": pytest.approx(0.10)}
    assert moves_sentence(moved).endswith("after **20 steps**, by +10.0 points.")
    still = summarize(long_run_profile([0.30, 0.31, 0.32], {10: [0.30, 0.33, 0.31], 20: [0.29, 0.33, 0.30]}))
    assert still["curve"]["moves_at"] is None


def test_profiles_merge_over_the_defaults_and_unknown_ones_fail():
    default, quick = load_efficacy_config(CONFIG), load_efficacy_config(CONFIG, "quick")
    assert len(default.seeds) >= 3 and not default.smoke and quick.smoke and quick.profile == "quick"
    assert quick.results_dir != default.results_dir and quick.eval.backend_options == {}
    assert load_efficacy_config(CONFIG, None, ["grpo.max_steps=7"]).grpo["max_steps"] == 7
    assert merge_mappings({"a": {"b": 1}, "c": 1}, {"a": {}, "c": 2}) == {"a": {}, "c": 2}
    with pytest.raises(ConfigError):
        load_efficacy_config(CONFIG, "nope")


def test_a_quick_smoke_run_trains_every_arm_and_reports(tmp_path):
    from benchmarks.efficacy import main
    from benchmarks.efficacy_report import publish

    results = tmp_path / "results" / "quick"
    assert main(["--quick", "--no-report", "--set", f"work_dir={tmp_path / 'work'}",
                 "--set", f"results_dir={results}", "--set", "seeds=[0]"]) == 0
    runs = {p.name: json.loads(p.read_text()) for p in (results / "runs").glob("*.json")}
    cfg = load_efficacy_config(CONFIG, "quick")
    assert set(runs) == {f"{a.name}.seed0.json" for a in arms_for(cfg.budget.sft_shares)}
    assert {r["mode"] for r in runs.values()} == {"smoke"}
    warm = runs["grpo_warm.seed0.json"]["stages"]
    assert [s["trainer"] for s in warm] == ["sft", "grpo"] and warm[1]["steps"] == cfg.grpo["max_steps"]
    gold = runs["sft_gold_rows.seed0.json"]["stages"][0]["data_facts"]
    assert gold["rows"] == json.loads((results / "experiment.json").read_text())["curate"]["sft"]["rows"]
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{BEGIN}\n{END}\n", encoding="utf-8")
    publish(root=results.parent, results_md=tmp_path / "results.md", readme=readme)
    assert "mode **smoke**" in readme.read_text() and "Smoke run" in (tmp_path / "results.md").read_text()
