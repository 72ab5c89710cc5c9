"""Difficulty from pass rates over k samples: Wilson intervals, buckets, and the RL filter (0 < pass < 1).

Buckets and the RL filter compare one number per prompt, `difficulty.estimate`: the pass rate
(`point`), or a bound of its Wilson interval. At k = 4, 4/4 correct has a lower bound of 0.51:
`wilson_lower` calls a prompt easy only when the samples show it, `wilson_upper` calls it hard
only when they show that.
"""

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curation.generate import output_schema
from curation.step import StepResult, keep_rows
from schemas.config import StrictModel
from schemas.errors import InputError

BUCKETS = ("solved", "easy", "medium", "hard", "unsolved")
# Which prompt_stats column each `difficulty.estimate` compares against bucket edges and RL bounds.
ESTIMATE_COLUMNS = {"point": "pass_rate", "wilson_lower": "ci_low", "wilson_upper": "ci_high"}
Estimate = Literal["point", "wilson_lower", "wilson_upper"]


class DifficultyConfig(StrictModel):
    """Bucket edges on the pass rate, and the z of the Wilson interval."""

    easy_min: float = Field(0.7, gt=0, lt=1, description="pass rate at or above which a prompt is easy")
    medium_min: float = Field(0.3, gt=0, lt=1, description="pass rate at or above which a prompt is medium")
    z: float = Field(1.96, gt=0, description="normal quantile of the Wilson interval (1.96 = 95%)")
    estimate: Estimate = Field(
        "point", description="what buckets and the RL filter compare: the pass rate (point) or the Wilson "
                             "interval's lower or upper bound")
    pooled: bool = Field(
        False, description="rank by the difficulty ledger: successes and attempts pooled over every run "
                           "that sampled the prompt with this policy, not this run's samples alone")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.medium_min < self.easy_min:
            raise ValueError(f"need medium_min < easy_min, got {self.medium_min} >= {self.easy_min}")
        return self


def bucket(pass_rate: float, cfg: DifficultyConfig) -> str:
    """solved (1), easy, medium, hard (> 0), unsolved (0), of a pass rate or a bound of it."""
    return str(buckets(np.array([pass_rate]), cfg)[0])


def buckets(values: np.ndarray, cfg: DifficultyConfig) -> np.ndarray:
    """bucket() of many pass rates (or bounds) at once."""
    return np.select([values >= 1.0, values >= cfg.easy_min, values >= cfg.medium_min, values > 0],
                     list(BUCKETS[:4]), BUCKETS[4])


def wilson_interval(n_correct: int, k: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a pass rate: honest at k = 4 and at 0 or k successes."""
    assert 0 <= n_correct <= k and k > 0, (n_correct, k)
    low, high = wilson_intervals(np.array([n_correct]), np.array([k]), z)
    return float(low[0]), float(high[0])


def wilson_intervals(n_correct: np.ndarray, k: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """wilson_interval() of many (n_correct, k) pairs at once."""
    k = np.asarray(k, np.float64)
    p, z2 = n_correct / k, z * z
    center = (p + z2 / (2 * k)) / (1 + z2 / k)
    half = z * np.sqrt(p * (1 - p) / k + z2 / (4 * k * k)) / (1 + z2 / k)
    return np.maximum(0.0, center - half), np.minimum(1.0, center + half)


def prompt_stats(generations: pa.Table, verdicts: pa.Table, cfg: DifficultyConfig) -> pa.Table:
    """Per (prompt_id, model): k, n_correct, pass_rate, Wilson ci_low/ci_high, bucket, mean_tokens.

    Expects exactly one verdict per generation (verdicts of one verifier run). Arrow group-bys,
    no per-row Python: millions of samples take seconds.
    """
    verdicts = _one_verdict_each(verdicts.select(["generation_id", "correct"]))
    known = pc.is_in(generations["generation_id"], value_set=verdicts["generation_id"].combine_chunks())
    first = pc.index(known, False).as_py()  # -1: every generation has a verdict
    if first >= 0:
        raise InputError(f"generation {generations['generation_id'][first].as_py()} "
                         f"(prompt {generations['prompt_id'][first].as_py()}) has no verdict")
    correct = pc.cast(pc.fill_null(verdicts["correct"], False), pa.int64())  # a null verdict counts as wrong
    samples = generations.select(["generation_id", "prompt_id", "model", "n_tokens"]).join(
        verdicts.set_column(1, "correct", correct), "generation_id", use_threads=False)
    grouped = samples.group_by(["prompt_id", "model"], use_threads=False).aggregate(
        [("generation_id", "count"), ("correct", "sum"), ("n_tokens", "sum")]).sort_by(
        [("prompt_id", "ascending"), ("model", "ascending")])
    k = grouped["generation_id_count"].to_numpy()
    n_correct = grouped["correct_sum"].to_numpy()
    ci_low, ci_high = wilson_intervals(n_correct, k, cfg.z)
    columns = {"prompt_id": grouped["prompt_id"], "model": grouped["model"], "k": k, "n_correct": n_correct,
               "pass_rate": n_correct / k, "ci_low": ci_low, "ci_high": ci_high}
    columns["difficulty_bucket"] = buckets(columns[ESTIMATE_COLUMNS[cfg.estimate]], cfg)
    columns["mean_tokens"] = pc.fill_null(grouped["n_tokens_sum"], 0).to_numpy().astype(np.float64) / k
    schema = output_schema("prompt_stats")
    return pa.table([pa.array(columns[f.name], f.type) if isinstance(columns[f.name], np.ndarray)
                     else columns[f.name].cast(f.type) for f in schema], schema=schema)


def _one_verdict_each(verdicts: pa.Table) -> pa.Table:
    """The verdicts; an InputError naming the first generation seen twice."""
    codes = pc.dictionary_encode(verdicts["generation_id"].combine_chunks()).indices.to_numpy()
    first_seen = np.zeros(codes.size, bool)
    first_seen[np.unique(codes, return_index=True)[1]] = True
    if not first_seen.all():
        generation_id = verdicts["generation_id"][int(np.argmin(first_seen))].as_py()
        raise InputError(f"generation {generation_id} has more than one verdict; pass one verifier run's verdicts")
    return verdicts


def rates(n_correct: np.ndarray, k: np.ndarray, cfg: DifficultyConfig) -> dict[str, np.ndarray]:
    """Columns k, n_correct, pass_rate, Wilson ci_low/ci_high, and the bucket of the configured
    estimate, for many (n_correct, k) pairs at once."""
    n_correct, k = np.asarray(n_correct, np.int64), np.asarray(k, np.int64)
    assert ((0 <= n_correct) & (n_correct <= k) & (k > 0)).all(), (n_correct, k)
    ci_low, ci_high = wilson_intervals(n_correct, k, cfg.z)
    values = dict(k=k, n_correct=n_correct, pass_rate=n_correct / k, ci_low=ci_low, ci_high=ci_high)
    return {**values, "difficulty_bucket": buckets(values[ESTIMATE_COLUMNS[cfg.estimate]], cfg)}


def correct_by_generation(verdicts: pa.Table) -> dict[str, bool]:
    """generation_id -> verified correct; an InputError when a generation has two verdicts."""
    verdicts = _one_verdict_each(verdicts)
    return {generation_id: bool(is_correct) for generation_id, is_correct
            in zip(verdicts["generation_id"].to_pylist(), verdicts["correct"].to_pylist())}


class RLFilterConfig(StrictModel):
    """Keep prompts the policy sometimes solves: min_pass < pass_rate < max_pass (strict); with
    `difficulty.estimate` a Wilson bound of the pass rate takes its place."""

    min_pass: float = Field(0.0, ge=0, le=1, description="drop prompts with pass_rate at or below this")
    max_pass: float = Field(1.0, ge=0, le=1, description="drop prompts with pass_rate at or above this")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.min_pass < self.max_pass:
            raise ValueError(f"need min_pass < max_pass, got {self.min_pass} >= {self.max_pass}")
        return self


def rl_filter(stats: pa.Table, cfg: RLFilterConfig, estimate: Estimate = "point") -> StepResult:
    """Keep prompt_stats rows with min_pass < estimate < max_pass (the pass rate, or a bound of its
    Wilson interval); log the others with the reason."""
    column = ESTIMATE_COLUMNS[estimate]
    name = "pass_rate" if estimate == "point" else estimate
    reasons = []
    for value in stats[column].to_pylist():
        if value <= cfg.min_pass:
            reasons.append(f"{name} {value:.2f} <= min {cfg.min_pass}")
        elif value >= cfg.max_pass:
            reasons.append(f"{name} {value:.2f} >= max {cfg.max_pass}")
        else:
            reasons.append(None)
    return keep_rows(stats, {"rl_filter": reasons}, id_column="prompt_id", table_name="prompt_stats")
