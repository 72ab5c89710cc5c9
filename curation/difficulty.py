"""Difficulty from pass rates over k samples: Wilson intervals, buckets, and the RL filter (0 < pass < 1)."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from curation.generate import output_schema
from schemas.errors import InputError

BUCKETS = ("solved", "easy", "medium", "hard", "unsolved")


class DifficultyConfig(BaseModel):
    """Bucket edges on the pass rate, and the z of the Wilson interval."""

    model_config = ConfigDict(extra="forbid")

    easy_min: float = Field(0.7, gt=0, lt=1, description="pass rate at or above which a prompt is easy")
    medium_min: float = Field(0.3, gt=0, lt=1, description="pass rate at or above which a prompt is medium")
    z: float = Field(1.96, gt=0, description="normal quantile of the Wilson interval (1.96 = 95%)")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.medium_min < self.easy_min:
            raise ValueError(f"need medium_min < easy_min, got {self.medium_min} >= {self.easy_min}")
        return self


def bucket(pass_rate: float, cfg: DifficultyConfig) -> str:
    """solved (1), easy, medium, hard (> 0), unsolved (0)."""
    return str(buckets(np.array([pass_rate]), cfg)[0])


def buckets(pass_rates: np.ndarray, cfg: DifficultyConfig) -> np.ndarray:
    """bucket() of every pass rate at once."""
    return np.select([pass_rates >= 1.0, pass_rates >= cfg.easy_min, pass_rates >= cfg.medium_min, pass_rates > 0],
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
    verdicts = verdicts.select(["generation_id", "correct"])
    per_generation = verdicts.group_by("generation_id", use_threads=False).aggregate([([], "count_all")])
    repeated = per_generation.filter(pc.greater(per_generation["count_all"], 1))
    if repeated.num_rows:
        raise InputError(f"generation {repeated['generation_id'][0].as_py()} has more than one verdict; "
                         "pass one verifier run's verdicts")
    samples = generations.select(["generation_id", "prompt_id", "model", "n_tokens"]).join(
        verdicts, "generation_id", join_type="left outer", use_threads=False)
    missing = samples.filter(pc.is_null(samples["correct"]))
    if missing.num_rows:
        raise InputError(f"generation {missing['generation_id'][0].as_py()} (prompt {missing['prompt_id'][0].as_py()}) "
                         "has no verdict")
    samples = samples.set_column(samples.schema.get_field_index("correct"), "correct",
                                 pc.cast(samples["correct"], pa.int64()))
    grouped = samples.group_by(["prompt_id", "model"], use_threads=False).aggregate(
        [("generation_id", "count"), ("correct", "sum"), ("n_tokens", "sum")]).sort_by(
        [("prompt_id", "ascending"), ("model", "ascending")])
    k = grouped["generation_id_count"].to_numpy()
    n_correct = grouped["correct_sum"].to_numpy()
    pass_rate = n_correct / k
    ci_low, ci_high = wilson_intervals(n_correct, k, cfg.z)
    tokens = pc.fill_null(grouped["n_tokens_sum"], 0).to_numpy().astype(np.float64)
    columns = {"prompt_id": grouped["prompt_id"], "model": grouped["model"], "k": k, "n_correct": n_correct,
               "pass_rate": pass_rate, "ci_low": ci_low, "ci_high": ci_high,
               "difficulty_bucket": buckets(pass_rate, cfg), "mean_tokens": tokens / k}
    schema = output_schema("prompt_stats")
    return pa.table([pa.array(columns[f.name], f.type) if isinstance(columns[f.name], np.ndarray)
                     else columns[f.name].cast(f.type) for f in schema], schema=schema)


class RLFilterConfig(BaseModel):
    """Keep prompts the policy sometimes solves: min_pass < pass_rate < max_pass (strict)."""

    model_config = ConfigDict(extra="forbid")

    min_pass: float = Field(0.0, ge=0, le=1, description="drop prompts with pass_rate at or below this")
    max_pass: float = Field(1.0, ge=0, le=1, description="drop prompts with pass_rate at or above this")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.min_pass < self.max_pass:
            raise ValueError(f"need min_pass < max_pass, got {self.min_pass} >= {self.max_pass}")
        return self


def rl_filter(stats: pa.Table, cfg: RLFilterConfig) -> tuple[pa.Table, pa.Table]:
    """Kept prompt_stats rows, and a filter_log of the dropped ones (no run_id) with the reason."""
    keep, log = [], {"record_id": [], "table_name": [], "step": [], "reason": []}
    for row, pass_rate in enumerate(stats["pass_rate"].to_pylist()):
        if pass_rate <= cfg.min_pass:
            reason = f"pass_rate {pass_rate:.2f} <= min {cfg.min_pass}"
        elif pass_rate >= cfg.max_pass:
            reason = f"pass_rate {pass_rate:.2f} >= max {cfg.max_pass}"
        else:
            keep.append(row)
            continue
        for name, value in (("record_id", stats["prompt_id"][row].as_py()), ("table_name", "prompt_stats"),
                            ("step", "rl_filter"), ("reason", reason)):
            log[name].append(value)
    return stats.take(pa.array(keep, pa.int64())), pa.Table.from_pydict(log, schema=output_schema("filter_log"))
