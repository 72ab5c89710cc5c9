"""`difficulty.estimate` and `rl_filter: null` change a real curate run's buckets and RL split."""

import pytest

from fake_policy import curate_with_fake_policy
from flows.config import validate
from schemas.lake import Lake

SETTINGS = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}


def run(folder, **over) -> dict:
    """One curate run on the fake policy; its prompt_stats and RL split rows."""
    raw = {"lake": str(folder / "lake"), "backend": "openai", "model": "fake-policy", "decontam": None,
           "sources": [{"type": "reasoning_gym", "task": "basic_arithmetic", "count": 16, "seed": 5,
                        "config": SETTINGS}],
           "sampling": {"k": 4, "max_tokens": 64}, **over}
    with pytest.MonkeyPatch.context() as patch:
        curate_with_fake_policy(validate(raw), patch)
    lake = Lake(folder / "lake")
    return {"stats": lake.query("SELECT * FROM prompt_stats ORDER BY prompt_id").to_pylist(),
            "rl": lake.query("SELECT prompt_id, pass_rate FROM rl_prompts").to_pylist()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {name: run(tmp_path_factory.mktemp(name), **over) for name, over in {
        "default": {}, "no_rl_filter": {"rl_filter": None},
        "wilson_lower": {"difficulty": {"estimate": "wilson_lower"}}}.items()}


def test_without_the_rl_filter_every_prompt_reaches_rl(runs):
    default, unfiltered = runs["default"], runs["no_rl_filter"]
    assert {r["prompt_id"] for r in default["rl"]} < {r["prompt_id"] for r in unfiltered["rl"]}
    rates = {r["pass_rate"] for r in unfiltered["rl"]}
    assert {0.0, 1.0} <= rates and not {0.0, 1.0} & {r["pass_rate"] for r in default["rl"]}
    assert len(unfiltered["rl"]) == len(unfiltered["stats"])


def test_wilson_lower_buckets_fewer_prompts_easy_and_keeps_unproven_solved_ones_for_rl(runs):
    def easy(stats):
        return sum(r["difficulty_bucket"] in ("solved", "easy") for r in stats)

    point, lower = runs["default"], runs["wilson_lower"]
    assert [r["pass_rate"] for r in point["stats"]] == [r["pass_rate"] for r in lower["stats"]]  # same samples
    assert easy(lower["stats"]) < easy(point["stats"])
    # 4/4 at k = 4 has a Wilson lower bound of 0.51 < max_pass 1: not proven solved, so it stays for RL
    assert 1.0 in {r["pass_rate"] for r in lower["rl"]} and 1.0 not in {r["pass_rate"] for r in point["rl"]}
