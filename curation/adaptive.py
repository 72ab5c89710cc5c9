"""Adaptive k: sample in rounds, stop each prompt once its outcome is settled for the split it feeds.

Fixed-k sampling (open-r1's pass-rate filter) spends max_k samples on every prompt. Here a
prompt stops as soon as it qualifies (RL/preference: one correct and one incorrect sample;
SFT: enough correct samples; pass-rate: a narrow enough interval), or once a Beta prior fitted
to the first round says the other outcome is unlikely to show up before max_k (empirical Bayes
give-up). The effective k per prompt is recorded, with a Wilson interval, so pass rates stay
honest. Generation ids equal fixed-k ids, so a later fixed-k run reuses these samples.
"""

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curation.backends.base import GenerationBackend, Sampling
from curation.difficulty import wilson_interval
from curation.generate import PromptFormat, generate_table
from curation.verifiers import verdicts_table
from schemas.config import StrictModel


class AdaptiveConfig(StrictModel):
    """Rounds and the stop rule of adaptive sampling."""

    initial_k: int = Field(2, ge=1, description="samples per prompt in the first round")
    round_k: int = Field(2, ge=1, description="samples per undecided prompt in each later round")
    max_k: int = Field(8, ge=1, description="most samples per prompt (the fixed-k it replaces)")
    settle_for: Literal["rl", "sft", "pass_rate"] = Field(
        "rl", description="rl: a correct and an incorrect sample; sft: sft_correct correct samples; "
                          "pass_rate: Wilson half-width <= ci_half_width")
    sft_correct: int = Field(1, ge=1, description="correct samples that settle a prompt for SFT")
    ci_half_width: float = Field(0.15, gt=0.0, le=0.5, description="pass_rate rule: interval half-width")
    min_k: int = Field(0, ge=0, description="never stop a prompt before this many samples")
    give_up_probability: float = Field(
        0.02, ge=0.0, le=1.0, description="stop an all-correct / all-wrong prompt once the chance of the "
                                          "other outcome before max_k falls below this (0: never give up)")
    prior_by_task: bool = Field(False, description="fit the give-up prior per prompts.task (tasks with at least "
                                                   "8 prompts); noisy with few first-round samples, so off")
    z: float = Field(1.96, gt=0.0, le=5.0, description="normal quantile of the recorded Wilson interval")

    @model_validator(mode="after")
    def _order(self):
        if self.initial_k > self.max_k or self.min_k > self.max_k:
            raise ValueError(f"initial_k ({self.initial_k}) and min_k ({self.min_k}) "
                             f"must be <= max_k ({self.max_k})")
        return self


class AdaptiveResult(NamedTuple):
    generations: pa.Table  # every round's samples, fixed-k generation ids
    verdicts: pa.Table
    # prompt_id, effective_k, n_correct, pass_rate, ci_low, ci_high, rounds, stop_reason, tokens
    effective_k: pa.Table


def fit_beta_prior(n_correct: list[int], k: list[int]) -> tuple[float, float]:
    """Beta(a, b) over prompts' pass rates by the method of moments (beta-binomial), clamped so
    it is never degenerate. Bimodal data (most prompts all-wrong or all-right) gives a < 1, b < 1."""
    total = sum(k)
    mean = min(max(sum(n_correct) / total, 0.02), 0.98) if total else 0.5
    n = total / len(k) if k else 1.0
    rates = [c / m for c, m in zip(n_correct, k) if m]
    var = sum((r - mean) ** 2 for r in rates) / len(rates) if rates else 0.0
    # Var(rate) = m(1-m)/n * (1 + (n-1) rho), rho = 1 / (a + b + 1)
    rho = (var * n / (mean * (1 - mean)) - 1) / (n - 1) if n > 1 else 0.5
    rho = min(max(rho, 0.05), 0.5)  # rho > 0.5 from a 2-sample round is mostly noise: give up less eagerly
    strength = 1 / rho - 1
    return mean * strength, (1 - mean) * strength


def _log_beta(x: float, y: float) -> float:
    return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)


def chance_of_other_outcome(n: int, n_correct: int, remaining: int, prior: tuple[float, float]) -> float:
    """P(at least one sample of the unseen outcome in `remaining` more), all n so far alike."""
    a, b = prior
    if remaining <= 0:
        return 0.0
    if n_correct == 0:  # all wrong: chance of a first success
        return 1.0 - math.exp(_log_beta(a, b + n + remaining) - _log_beta(a, b + n))
    return 1.0 - math.exp(_log_beta(a + n + remaining, b) - _log_beta(a + n, b))


def stop_reason(n: int, n_correct: int, cfg: AdaptiveConfig, prior: tuple[float, float]) -> str | None:
    """Why a prompt with n samples (n_correct right) stops now, or None to keep sampling."""
    if n >= cfg.max_k:
        return "max_k"
    if n < cfg.min_k:
        return None
    mixed = 0 < n_correct < n
    if cfg.settle_for == "rl" and mixed:
        return "mixed"
    if cfg.settle_for == "sft" and n_correct >= cfg.sft_correct:
        return "sft_correct"
    if cfg.settle_for == "pass_rate":
        low, high = wilson_interval(n_correct, n, cfg.z)
        if (high - low) / 2 <= cfg.ci_half_width:
            return "ci_narrow"
    if not mixed and cfg.settle_for != "pass_rate" and not (cfg.settle_for == "sft" and n_correct > 0):
        if chance_of_other_outcome(n, n_correct, cfg.max_k - n, prior) < cfg.give_up_probability:
            return "all_correct_settled" if n_correct else "all_wrong_settled"
    return None


def sample_adaptively(backend: GenerationBackend, prompts: pa.Table, fmt: PromptFormat, sampling: Sampling,
                      cfg: AdaptiveConfig, *, shard_size: int = 256,
                      progress: Callable[[int, int], None] | None = None) -> AdaptiveResult:
    """Rounds of generate + verify over the prompts still undecided; progress(round, active)."""
    ids = prompts.column("prompt_id").to_pylist()
    counts = {pid: [0, 0, 0, 0] for pid in ids}  # samples, correct, rounds, tokens
    reasons: dict[str, str] = {}
    generations, verdicts = [], []
    groups = prompts.column("task").to_pylist() if "task" in prompts.column_names else [None] * len(ids)
    active, done, round_no, priors = list(ids), 0, 0, {}
    while active:
        stop = min(cfg.max_k, done + (cfg.initial_k if round_no == 0 else cfg.round_k))
        if progress is not None:
            progress(round_no, len(active))
        subset = prompts.filter(pc.is_in(prompts.column("prompt_id"), value_set=pa.array(active, pa.string())))
        gens = generate_table(backend, subset, fmt, sampling, sample_indices=range(done, stop),
                              shard_size=shard_size)
        verds = verdicts_table(gens, subset)
        generations.append(gens)
        verdicts.append(verds)
        _tally(counts, gens, verds)
        if round_no == 0:
            priors = fit_priors(ids, groups, counts, cfg)
        for pid in active:
            counts[pid][2] += 1
            reason = stop_reason(counts[pid][0], counts[pid][1], cfg, priors[pid])
            if reason is not None:
                reasons[pid] = reason
        active = [p for p in active if p not in reasons]
        done, round_no = stop, round_no + 1
    return AdaptiveResult(pa.concat_tables(generations), pa.concat_tables(verdicts),
                          _effective_k(ids, counts, reasons, cfg))


def fit_priors(ids: list[str], groups: list, counts: dict, cfg: AdaptiveConfig,
               min_group: int = 8) -> dict[str, tuple[float, float]]:
    """The give-up prior of each prompt: its task's (empirical Bayes per task), else the pooled one."""
    pooled = fit_beta_prior([counts[p][1] for p in ids], [counts[p][0] for p in ids])
    members: dict = {}
    for pid, group in zip(ids, groups):
        members.setdefault(group, []).append(pid)
    prior_of = {}
    for group, pids in members.items():
        fitted = pooled
        if cfg.prior_by_task and group is not None and len(pids) >= min_group:
            fitted = fit_beta_prior([counts[p][1] for p in pids], [counts[p][0] for p in pids])
        prior_of.update({p: fitted for p in pids})
    return prior_of


def _tally(counts: dict, generations: pa.Table, verdicts: pa.Table) -> None:
    correct = dict(zip(verdicts.column("generation_id").to_pylist(), verdicts.column("correct").to_pylist()))
    for gid, pid, n_tokens in zip(generations.column("generation_id").to_pylist(),
                                  generations.column("prompt_id").to_pylist(),
                                  generations.column("n_tokens").to_pylist()):
        counts[pid][0] += 1
        counts[pid][1] += int(bool(correct.get(gid)))
        counts[pid][3] += n_tokens or 0


def _effective_k(ids: list[str], counts: dict, reasons: dict, cfg: AdaptiveConfig) -> pa.Table:
    rows = []
    for pid in ids:
        n, c, rounds, tokens = counts[pid]
        low, high = wilson_interval(c, n, cfg.z)
        rows.append({"prompt_id": pid, "effective_k": n, "n_correct": c, "pass_rate": c / n if n else None,
                     "ci_low": low, "ci_high": high, "rounds": rounds, "stop_reason": reasons.get(pid, "max_k"),
                     "tokens": tokens})
    schema = pa.schema([("prompt_id", pa.string()), ("effective_k", pa.int64()), ("n_correct", pa.int64()),
                        ("pass_rate", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
                        ("rounds", pa.int64()), ("stop_reason", pa.string()), ("tokens", pa.int64())])
    return pa.Table.from_pylist(rows, schema=schema)
