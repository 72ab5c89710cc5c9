"""Pick the sampling temperature whose token entropy is closest to a target (AceReason-Nemotron 1.1).

AceReason 1.1 finds RL works best when the temperature-adjusted entropy of the policy's
samples stays near 0.3: lower under-explores, higher wastes rollouts on noise. On a sample of
prompts we measure the mean per-token entropy (at the sampling temperature) of completions at
each candidate temperature, bisect between the candidates that bracket the target (entropy
rises with temperature), and keep the measured temperature closest to the target.
"""

import math

import pyarrow as pa
from pydantic import Field, field_validator

from curation.backends.base import GenerationBackend, Sampling
from curation.mixing import weighted_order
from schemas.config import StrictModel
from schemas.errors import InputError, ModelError
from schemas.ids import content_id


class TemperatureConfig(StrictModel):
    """The probe behind `sampling.temperature: auto`."""

    target_entropy: float = Field(0.3, gt=0.0, le=10.0, description="mean token entropy to aim for (nats)")
    candidates: list[float] = Field([0.4, 0.6, 0.8, 1.0, 1.2], min_length=1,
                                    description="temperatures measured first")
    refine_steps: int = Field(2, ge=0, le=8, description="bisection steps between the bracketing candidates")
    n_prompts: int = Field(16, ge=1, description="prompts in the probe sample")
    samples_per_prompt: int = Field(2, ge=1, description="completions per prompt and temperature")
    max_tokens: int = Field(128, ge=1, description="most tokens per probe completion")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus mass, as in the real sampling")
    seed: int = Field(0, ge=0)

    @field_validator("candidates")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(t <= 0 or t > 5 for t in value):
            raise ValueError("candidate temperatures must be in (0, 5]")
        return sorted(set(value))


def probe_sample(conversations: list[list[dict]], cfg: TemperatureConfig) -> list[list[dict]]:
    """A seeded sample of at most n_prompts conversations (the same for every temperature)."""
    keys = [content_id(c) for c in conversations]
    order = weighted_order(keys, [1.0] * len(keys), cfg.seed)[: cfg.n_prompts]
    return [conversations[i] for i in sorted(order)]


def measure_entropy(backend: GenerationBackend, conversations: list[list[dict]], temperature: float,
                    cfg: TemperatureConfig) -> dict:
    """Token-weighted mean entropy of completions sampled at one temperature."""
    sampling = Sampling(k=cfg.samples_per_prompt, temperature=temperature, top_p=cfg.top_p,
                        max_tokens=cfg.max_tokens, seed=cfg.seed)
    outputs = backend.generate(conversations, cfg.samples_per_prompt, sampling, want_entropy=True)
    total, tokens, count = 0.0, 0, 0
    for completions in outputs:
        for c in completions:
            if c.mean_entropy is None:
                raise ModelError(f"backend {backend.model_name} does not report token entropy; "
                                 "set sampling.temperature to a number")
            if c.n_tokens > 0:
                total += c.mean_entropy * c.n_tokens
                tokens += c.n_tokens
                count += 1
    entropy = total / tokens if tokens else math.nan
    return {"temperature": float(temperature), "mean_entropy": entropy, "n_completions": count, "n_tokens": tokens}


def choose_temperature(backend: GenerationBackend, conversations: list[list[dict]],
                       cfg: TemperatureConfig) -> tuple[float, pa.Table]:
    """(chosen temperature, table of every measured temperature with its entropy, distance to
    the target, phase grid/refine and the chosen flag)."""
    if not conversations:
        raise InputError("no prompts to probe the sampling temperature on")
    sample = probe_sample(conversations, cfg)
    points = []
    for t in cfg.candidates:
        points.append({**measure_entropy(backend, sample, t, cfg), "phase": "grid"})
    for _ in range(cfg.refine_steps):
        bracket = _bracket(points, cfg.target_entropy)
        if bracket is None:
            break
        middle = round((bracket[0] + bracket[1]) / 2, 4)
        if any(abs(p["temperature"] - middle) < 1e-6 for p in points):
            break
        points.append({**measure_entropy(backend, sample, middle, cfg), "phase": "refine"})
    scored = [p for p in points if not math.isnan(p["mean_entropy"])]
    if not scored:
        raise ModelError(f"backend {backend.model_name} produced no tokens in the temperature probe")
    best = min(scored, key=lambda p: (abs(p["mean_entropy"] - cfg.target_entropy), p["temperature"]))
    points.sort(key=lambda p: p["temperature"])
    for p in points:
        p["distance"] = abs(p["mean_entropy"] - cfg.target_entropy)
        p["chosen"] = p is best
        p["target_entropy"] = cfg.target_entropy
    return best["temperature"], pa.Table.from_pylist(points)


def _bracket(points: list[dict], target: float) -> tuple[float, float] | None:
    """The closest pair of measured temperatures whose entropies straddle the target."""
    measured = sorted((p["temperature"], p["mean_entropy"]) for p in points if not math.isnan(p["mean_entropy"]))
    for (t0, h0), (t1, h1) in zip(measured, measured[1:]):
        if (h0 - target) * (h1 - target) <= 0:
            return t0, t1
    return None


def resolve_temperature(sampling_temperature: float | str, backend: GenerationBackend,
                        conversations: list[list[dict]], cfg: TemperatureConfig) -> tuple[float, pa.Table | None]:
    """A number stays as it is; "auto" runs the probe. Returns (temperature, probe table or None)."""
    if sampling_temperature == "auto":
        return choose_temperature(backend, conversations, cfg)
    if isinstance(sampling_temperature, str):
        raise InputError(f"sampling.temperature must be a number or 'auto', got '{sampling_temperature}'",
                         field="temperature")
    return float(sampling_temperature), None
