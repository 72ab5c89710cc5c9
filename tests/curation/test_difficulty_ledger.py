"""The difficulty ledger pools a policy's samples across runs, counting each generation id once."""

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from curation.difficulty import DifficultyConfig, prompt_stats, wilson_interval
from curation.difficulty_ledger import LEDGER, SAMPLES, pool, pooled_stats, samples_of
from schemas.errors import InputError

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
CFG = DifficultyConfig()


def run_samples(results: dict[str, str], tag: str, policy: str = "pol") -> tuple[pa.Table, pa.Table]:
    """generations and verdicts: per prompt a string of 1/0 (right/wrong); ids <prompt>-<tag><index>."""
    ids, prompts, correct = [], [], []
    for prompt_id, marks in results.items():
        for j, mark in enumerate(marks):
            ids.append(f"{prompt_id}-{tag}{j}")
            prompts.append(prompt_id)
            correct.append(mark == "1")
    gens = pa.table({"generation_id": ids, "prompt_id": prompts, "model": ["m"] * len(ids),
                     "n_tokens": [5] * len(ids)})
    return gens, pa.table({"generation_id": ids, "correct": correct})


def add_run(results, tag, run_id, known=None, previous=None, policy="pol"):
    """One run's samples pooled with what the lake holds; returns (its samples, its ledger rows)."""
    fresh = samples_of(*run_samples(results, tag), policy)
    known = known if known is not None else SAMPLES.empty_table()
    previous = previous if previous is not None else LEDGER.empty_table()
    return fresh, pool(fresh, known, previous, model="m", run_id=run_id, cfg=CFG, now=NOW)


def by_prompt(ledger: pa.Table) -> dict[str, dict]:
    return {row["prompt_id"]: row for row in ledger.to_pylist()}


def test_a_second_run_with_new_samples_adds_to_the_counts():
    first_samples, first = add_run({"a": "1100", "b": "0000"}, "s0", "run1")
    _, second = add_run({"a": "1110", "c": "1"}, "s1", "run2", known=first_samples, previous=first)
    rows = by_prompt(second)
    assert (rows["a"]["attempts"], rows["a"]["successes"], rows["a"]["pass_rate"]) == (8, 5, 5 / 8)
    assert (rows["a"]["ci_low"], rows["a"]["ci_high"]) == wilson_interval(5, 8)
    assert rows["a"]["run_ids"] == ["run1", "run2"]
    assert (rows["c"]["attempts"], rows["c"]["run_ids"]) == (1, ["run2"])
    assert "b" not in rows  # a run writes the rows of the prompts it sampled; b's row stays as it was


def test_a_rerun_that_reuses_the_same_generations_counts_them_once():
    first_samples, first = add_run({"a": "1100"}, "s0", "run1")
    _, again = add_run({"a": "1100"}, "s0", "run2", known=first_samples, previous=first)
    row = by_prompt(again)["a"]
    assert (row["attempts"], row["successes"]) == (4, 2)
    assert row["run_ids"] == ["run1", "run2"]  # the run is listed; its samples are not counted twice


def test_a_reverified_sample_counts_with_its_new_verdict():
    first_samples, first = add_run({"a": "0000"}, "s0", "run1")
    _, fixed = add_run({"a": "1000"}, "s0", "run2", known=first_samples, previous=first)
    assert (by_prompt(fixed)["a"]["attempts"], by_prompt(fixed)["a"]["successes"]) == (4, 1)


def test_pooled_stats_rank_by_the_pooled_counts():
    first_samples, first = add_run({"a": "1111"}, "s0", "run1")
    gens, verdicts = run_samples({"a": "1000"}, "s1")
    _, ledger = add_run({"a": "1000"}, "s1", "run2", known=first_samples, previous=first)
    own = prompt_stats(gens, verdicts, CFG)
    pooled = pooled_stats(own, ledger, CFG)
    assert own.to_pylist()[0]["difficulty_bucket"] == "hard"  # 1/4 alone
    row = pooled.to_pylist()[0]
    assert (row["k"], row["n_correct"], row["pass_rate"], row["difficulty_bucket"]) == (8, 5, 5 / 8, "medium")
    assert row["mean_tokens"] == own.to_pylist()[0]["mean_tokens"] and pooled.schema == own.schema


def test_pooled_stats_bucket_follows_the_estimate():
    _, ledger = add_run({"a": "1111"}, "s0", "run1")
    own = prompt_stats(*run_samples({"a": "1111"}, "s0"), CFG)
    lower = DifficultyConfig(estimate="wilson_lower")
    assert pooled_stats(own, ledger, CFG)["difficulty_bucket"].to_pylist() == ["solved"]
    assert pooled_stats(own, ledger, lower)["difficulty_bucket"].to_pylist() == ["medium"]


def test_the_ledger_refuses_samples_without_verdicts_or_of_several_policies():
    gens, verdicts = run_samples({"a": "10"}, "s0")
    with pytest.raises(InputError, match="has no verdict"):
        samples_of(gens, verdicts.slice(0, 1), "pol")
    mixed = pa.concat_tables([samples_of(gens, verdicts, "pol"), samples_of(gens, verdicts, "other")])
    with pytest.raises(InputError, match="one policy"):
        pool(mixed, SAMPLES.empty_table(), LEDGER.empty_table(), model="m", run_id="r", cfg=CFG, now=NOW)
    fresh = samples_of(gens, verdicts, "pol")
    with pytest.raises(InputError, match="another policy"):
        pool(fresh, samples_of(gens, verdicts, "other"), LEDGER.empty_table(), model="m", run_id="r", cfg=CFG,
             now=NOW)
    with pytest.raises(InputError, match="no difficulty ledger row"):
        pooled_stats(prompt_stats(gens, verdicts, CFG), LEDGER.empty_table(), CFG)
