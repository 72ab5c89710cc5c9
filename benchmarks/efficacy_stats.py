"""The statistics of `make efficacy`: Student t intervals over seeds, paired per-seed differences,
and pooled Wilson intervals. Pure functions over numbers (no I/O, no models)."""

import math
import statistics
from dataclasses import dataclass

# two-sided 95% Student t quantiles by degrees of freedom (scipy.stats.t.ppf(0.975, df))
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
       18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}


def t95(df: int) -> float:
    """The 97.5% Student t quantile for `df` degrees of freedom (the next tabled df below beyond 20)."""
    if df < 1:
        raise ValueError("a t interval needs at least two values")
    return T95.get(df) or T95[max(k for k in T95 if k <= df)]


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% half-width over `n` values (half-width None for a single value)."""

    mean: float
    half: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half is None else self.mean - self.half

    @property
    def high(self) -> float | None:
        return None if self.half is None else self.mean + self.half

    @property
    def excludes_zero(self) -> bool:
        return self.half is not None and abs(self.mean) > self.half


def t_interval(values: list[float]) -> Interval:
    """Mean and 95% Student t half-width over the values (seeds); no half-width for one value."""
    if not values:
        raise ValueError("no values")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean, None, 1)
    return Interval(mean, t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)), len(values))


def paired(treatment: dict, baseline: dict) -> tuple[Interval, dict] | None:
    """t interval of treatment - baseline over the seeds both have; also the per-seed differences."""
    seeds = sorted(set(treatment) & set(baseline))
    if not seeds:
        return None
    diffs = {seed: treatment[seed] - baseline[seed] for seed in seeds}
    return t_interval(list(diffs.values())), diffs


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (every seed's eval prompts pooled)."""
    if n <= 0:
        raise ValueError("a proportion needs n > 0")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
