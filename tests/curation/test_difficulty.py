import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.difficulty import (DifficultyConfig, RLFilterConfig, bucket, prompt_stats, rl_filter,
                                 wilson_interval)
from schemas.errors import InputError
from schemas.tables import TABLES


@pytest.mark.parametrize("pass_rate,expected", [
    (1.0, "solved"), (0.75, "easy"), (0.7, "easy"), (0.5, "medium"), (0.3, "medium"),
    (0.25, "hard"), (0.01, "hard"), (0.0, "unsolved")])
def test_buckets_at_their_edges(pass_rate, expected):
    assert bucket(pass_rate, DifficultyConfig()) == expected


def test_difficulty_config_rejects_crossed_edges():
    with pytest.raises(ValidationError, match="medium_min < easy_min"):
        DifficultyConfig(easy_min=0.3, medium_min=0.5)
    with pytest.raises(ValidationError):
        DifficultyConfig(easy_min=1.0)
    with pytest.raises(ValidationError):
        DifficultyConfig(bogus=1)


def test_wilson_interval_known_values():
    low, high = wilson_interval(0, 4)
    assert low == 0.0 and high == pytest.approx(0.4899, abs=1e-4)
    low, high = wilson_interval(4, 4)
    assert low == pytest.approx(0.5101, abs=1e-4) and high == 1.0
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(1 - low)
    narrow = wilson_interval(50, 100)
    assert narrow[1] - narrow[0] < high - low  # more samples, tighter interval


def _tables():
    gens = pa.table({
        "generation_id": [f"g{i}" for i in range(8)],
        "prompt_id": ["a"] * 4 + ["b"] * 4,
        "model": ["m"] * 8,
        "n_tokens": [10, 20, 30, 40, 5, 5, 5, 5]})
    verdicts = pa.table({"generation_id": [f"g{i}" for i in range(8)],
                         "correct": [True, True, True, False] + [False] * 4})
    return gens, verdicts


def test_prompt_stats_per_prompt_and_model():
    gens, verdicts = _tables()
    stats = prompt_stats(gens, verdicts, DifficultyConfig())
    assert stats.schema.names == [f.name for f in TABLES["prompt_stats"].schema if f.name != "run_id"]
    rows = {row["prompt_id"]: row for row in stats.to_pylist()}
    assert (rows["a"]["k"], rows["a"]["n_correct"], rows["a"]["pass_rate"]) == (4, 3, 0.75)
    assert rows["a"]["difficulty_bucket"] == "easy" and rows["a"]["mean_tokens"] == 25.0
    assert rows["a"]["ci_low"] < 0.75 < rows["a"]["ci_high"]
    assert (rows["b"]["pass_rate"], rows["b"]["difficulty_bucket"], rows["b"]["ci_low"]) == (0.0, "unsolved", 0.0)


def test_prompt_stats_refuses_missing_or_duplicate_verdicts():
    gens, verdicts = _tables()
    with pytest.raises(InputError, match="generation g7 .* has no verdict"):
        prompt_stats(gens, verdicts.slice(0, 7), DifficultyConfig())
    doubled = pa.concat_tables([verdicts, verdicts.slice(0, 1)])
    with pytest.raises(InputError, match="g0 has more than one verdict"):
        prompt_stats(gens, doubled, DifficultyConfig())


def _stats(rates):
    return pa.table({"prompt_id": [f"p{i}" for i in range(len(rates))], "pass_rate": rates})


def test_rl_filter_keeps_strictly_between_and_logs_reasons():
    result = rl_filter(_stats([0.0, 0.25, 0.5, 1.0]), RLFilterConfig())
    kept, dropped = result.kept, result.dropped
    assert kept["prompt_id"].to_pylist() == ["p1", "p2"]
    assert dropped.to_pylist() == [
        {"record_id": "p0", "table_name": "prompt_stats", "step": "rl_filter", "reason": "pass_rate 0.00 <= min 0.0"},
        {"record_id": "p3", "table_name": "prompt_stats", "step": "rl_filter", "reason": "pass_rate 1.00 >= max 1.0"}]


def test_rl_filter_custom_band():
    result = rl_filter(_stats([0.1, 0.25, 0.5, 0.8]), RLFilterConfig(min_pass=0.1, max_pass=0.8))
    kept, dropped = result.kept, result.dropped
    assert kept["prompt_id"].to_pylist() == ["p1", "p2"]
    assert dropped["reason"].to_pylist() == ["pass_rate 0.10 <= min 0.1", "pass_rate 0.80 >= max 0.8"]
    with pytest.raises(ValidationError):
        RLFilterConfig(min_pass=0.5, max_pass=0.5)


def _samples(counts: list[tuple[int, int]]):
    """generations + verdicts: prompt p<i> has n_correct right answers out of k, per (n_correct, k)."""
    gens, correct = {"generation_id": [], "prompt_id": [], "model": [], "n_tokens": []}, []
    for i, (n_correct, k) in enumerate(counts):
        for j in range(k):
            gens["generation_id"].append(f"p{i}-{j}")
            gens["prompt_id"].append(f"p{i}")
            gens["model"].append("m")
            gens["n_tokens"].append(10)
            correct.append(j < n_correct)
    return pa.table(gens), pa.table({"generation_id": gens["generation_id"], "correct": correct})


# A spread of results at k = 4, plus two with more samples: 16/16 and 13/16.
SPREAD = [(4, 4), (3, 4), (2, 4), (1, 4), (0, 4), (16, 16), (13, 16)]


def _buckets(estimate: str) -> list[str]:
    stats = prompt_stats(*_samples(SPREAD), DifficultyConfig(estimate=estimate))
    return stats["difficulty_bucket"].to_pylist()


def test_wilson_lower_calls_fewer_prompts_easy_and_only_well_sampled_ones_solved():
    point, lower = _buckets("point"), _buckets("wilson_lower")
    assert point == ["solved", "easy", "medium", "hard", "unsolved", "solved", "easy"]
    easy = ("solved", "easy")
    assert sum(b in easy for b in lower) < sum(b in easy for b in point)
    # 4/4 is not evidence enough for "solved" or even "easy" (lower bound 0.51); 16/16 still is easy
    assert lower[0] == "medium" and lower[5] == "easy" and lower[4] == "unsolved"


def test_wilson_upper_calls_fewer_prompts_hard():
    point, upper = _buckets("point"), _buckets("wilson_upper")
    hard = ("hard", "unsolved")
    assert sum(b in hard for b in upper) < sum(b in hard for b in point)
    assert upper[4] == upper[3] == "medium"  # 0/4 and 1/4: upper bounds 0.49 and 0.6994


def _estimated_stats():
    return prompt_stats(*_samples(SPREAD), DifficultyConfig())


def test_rl_filter_on_wilson_upper_drops_prompts_that_may_be_too_easy():
    band = RLFilterConfig(min_pass=0.0, max_pass=0.8)
    point = rl_filter(_estimated_stats(), band)
    upper = rl_filter(_estimated_stats(), band, "wilson_upper")
    def easy_kept(result):  # kept prompts the policy passes at least half the time
        return sum(rate >= 0.5 for rate in result.kept["pass_rate"].to_pylist())

    assert easy_kept(upper) < easy_kept(point)
    assert "p1" in point.kept["prompt_id"].to_pylist()  # 3/4 = 0.75 < 0.8, but its upper bound is 0.95
    reasons = dict(zip(upper.dropped["record_id"].to_pylist(), upper.dropped["reason"].to_pylist()))
    assert reasons["p1"] == "wilson_upper 0.95 >= max 0.8"


def test_rl_filter_on_wilson_lower_drops_prompts_that_may_be_too_hard():
    band = RLFilterConfig(min_pass=0.2, max_pass=1.0)
    point = rl_filter(_estimated_stats(), band)
    lower = rl_filter(_estimated_stats(), band, "wilson_lower")
    assert "p3" in point.kept["prompt_id"].to_pylist()  # 1/4 = 0.25 > 0.2, its lower bound 0.05
    assert "p3" not in lower.kept["prompt_id"].to_pylist()
    # ... and keeps a 4/4 prompt, whose lower bound (0.51) is no proof it is solved
    assert "p0" in lower.kept["prompt_id"].to_pylist() and "p0" not in point.kept["prompt_id"].to_pylist()


def test_difficulty_config_rejects_an_unknown_estimate():
    with pytest.raises(ValidationError, match="estimate"):
        DifficultyConfig(estimate="median")
