"""Curriculum stages (easy -> hard) and difficulty-aware retrospective sampling."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.curriculum import CurriculumConfig, assign_curriculum
from schemas.errors import ConfigError, InputError


def tables(pass_rates, buckets=None):
    ids = [f"p{i:02d}" for i in range(len(pass_rates))]
    buckets = buckets or ["medium"] * len(ids)
    rl = pa.table({"prompt_id": ids, "prompt": [f"q{i}" for i in range(len(ids))],
                   "pass_rate": pass_rates, "curriculum_stage": pa.nulls(len(ids), pa.int64())})
    stats = pa.table({"prompt_id": ids, "model": ["m"] * len(ids), "pass_rate": pass_rates,
                      "difficulty_bucket": buckets})
    return rl, stats


def run_curriculum(rl, stats, cfg):
    """(staged rl prompts, schedule, drop log) of one assign_curriculum call."""
    result = assign_curriculum(rl, cfg, prompt_stats=stats)
    return result.kept, result.side["curriculum_schedule"], result.dropped


def test_quantile_stages_go_easy_to_hard():
    rates = [0.1, 0.9, 0.5, 0.7, 0.3, 0.2]
    rl, stats = tables(rates)
    staged, schedule, dropped = run_curriculum(rl, stats, CurriculumConfig(n_stages=3, retrospective_fraction=0))
    stage = dict(zip(staged.column("prompt_id").to_pylist(), staged.column("curriculum_stage").to_pylist()))
    assert stage == {"p01": 1, "p03": 1, "p02": 2, "p04": 2, "p05": 3, "p00": 3}
    assert schedule.num_rows == 6 and dropped.num_rows == 0


def test_bucket_stages_and_unknown_bucket_is_config_error():
    rl, stats = tables([0.9, 0.5, 0.1], ["easy", "medium", "hard"])
    cfg = CurriculumConfig(stage_buckets=[["easy"], ["medium", "hard"]], retrospective_fraction=0)
    staged, _, _ = run_curriculum(rl, stats, cfg)
    assert staged.column("curriculum_stage").to_pylist() == [1, 2, 2]
    with pytest.raises(ConfigError, match="no stage for bucket"):
        run_curriculum(rl, stats, CurriculumConfig(stage_buckets=[["easy"], ["medium"]]))


def test_retrospective_draws_hard_prompts_from_earlier_stages():
    # stage 1: 10 easy-ish prompts, two of them hard (0.05); stage 2: 10 hard prompts.
    rates = [0.9] * 8 + [0.05, 0.05] + [0.02] * 10
    rl, stats = tables(rates, ["easy"] * 10 + ["hard"] * 10)
    cfg = CurriculumConfig(stage_buckets=[["easy"], ["hard"]], retrospective_fraction=1 / 6, seed=3)
    _, schedule, _ = run_curriculum(rl, stats, cfg)
    rows = schedule.to_pylist()
    retro = [r for r in rows if r["retrospective"]]
    assert len(retro) == 2 and all(r["stage"] == 2 and r["home_stage"] == 1 for r in retro)
    # weight 1/pass_rate: 20 vs 1.1 per prompt; a uniform draw would pick them 20% of the time
    picked = {r["prompt_id"] for r in retro}
    counts = {}
    for seed in range(40):
        _, sched, _ = run_curriculum(rl, stats, cfg.model_copy(update={"seed": seed}))
        for r in sched.to_pylist():
            if r["retrospective"]:
                counts[r["prompt_id"]] = counts.get(r["prompt_id"], 0) + 1
    assert counts.get("p08", 0) + counts.get("p09", 0) > 0.6 * 80
    assert picked <= {f"p{i:02d}" for i in range(10)}


def test_retrospective_skips_always_solved_prompts_and_respects_stage_sizes():
    rates = [1.0, 1.0, 0.6, 0.2, 0.1, 0.05]
    rl, stats = tables(rates)
    cfg = CurriculumConfig(n_stages=2, retrospective_fraction=0.5, stage_sizes=[3, 2])
    staged, schedule, dropped = run_curriculum(rl, stats, cfg)
    assert staged.num_rows == 5 and dropped.num_rows == 1
    assert "over its size 2" in dropped.column("reason")[0].as_py()
    retro = [r for r in schedule.to_pylist() if r["retrospective"]]
    assert [r["prompt_id"] for r in retro] == ["p02"]  # the only earlier prompt not always solved


def test_bad_config_and_input():
    with pytest.raises(ValidationError):
        CurriculumConfig(retrospective_fraction=1.5)
    with pytest.raises(ValidationError, match="each bucket in one stage"):
        CurriculumConfig(stage_buckets=[["easy"], ["easy", "hard"]])
    with pytest.raises(ValidationError, match="stage_sizes"):
        CurriculumConfig(n_stages=3, stage_sizes=[1, 2])
    rl, stats = tables([0.5, 0.5])
    stats2 = pa.concat_tables([stats, stats.set_column(1, "model", pa.array(["n", "n"]))])
    with pytest.raises(InputError, match="several models"):
        run_curriculum(rl, stats2, CurriculumConfig())
    staged, _, _ = run_curriculum(rl, stats2, CurriculumConfig(model="n"))
    assert staged.num_rows == 2
