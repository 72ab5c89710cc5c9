"""Temperature for a target token entropy (AceReason 1.1)."""

import math

import pytest
from pydantic import ValidationError

from curation.backends.base import Completion, GenerationBackend
from curation.temperature import TemperatureConfig, choose_temperature, probe_sample, resolve_temperature
from schemas.errors import InputError, ModelError


class EntropyBackend(GenerationBackend):
    """Entropy 0.5 * T^2 per token; records the temperatures asked for."""

    model_name = "fake"

    def __init__(self, report=True):
        self.temperatures, self.report = [], report

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        assert want_entropy
        self.temperatures.append(sampling.temperature)
        h = 0.5 * sampling.temperature ** 2 if self.report else None
        return [[Completion("x", 10, "stop", h) for _ in range(n)] for _ in conversations]


CHATS = [[{"role": "user", "content": f"q{i}"}] for i in range(40)]


def test_grid_then_bisection_picks_closest_entropy():
    backend = EntropyBackend()
    temperature, table = choose_temperature(backend, CHATS, TemperatureConfig(refine_steps=2))
    # grid 0.4..1.2 -> entropies .08 .18 .32 .5 .72; bisect (0.6, 0.8) -> 0.7, then (0.7, 0.8) -> 0.75
    assert backend.temperatures == [0.4, 0.6, 0.8, 1.0, 1.2, 0.7, 0.75]
    assert temperature == 0.75
    rows = table.to_pylist()
    assert [r["chosen"] for r in rows].count(True) == 1
    assert next(r for r in rows if r["chosen"])["mean_entropy"] == pytest.approx(0.28125)
    assert {r["phase"] for r in rows} == {"grid", "refine"}


def test_no_refinement_when_target_outside_grid():
    backend = EntropyBackend()
    temperature, _ = choose_temperature(backend, CHATS, TemperatureConfig(target_entropy=5.0))
    assert temperature == 1.2 and len(backend.temperatures) == 5


def test_probe_sample_is_seeded_subset():
    cfg = TemperatureConfig(n_prompts=5)
    sample = probe_sample(CHATS, cfg)
    assert len(sample) == 5 and sample == probe_sample(CHATS, cfg)
    assert sample != probe_sample(CHATS, cfg.model_copy(update={"seed": 1}))


def test_resolve_and_errors():
    assert resolve_temperature(0.7, EntropyBackend(), CHATS, TemperatureConfig()) == (0.7, None)
    t, table = resolve_temperature("auto", EntropyBackend(), CHATS, TemperatureConfig(refine_steps=0))
    assert t == 0.8 and table.num_rows == 5
    with pytest.raises(ModelError, match="does not report token entropy"):
        choose_temperature(EntropyBackend(report=False), CHATS, TemperatureConfig())
    with pytest.raises(InputError):
        choose_temperature(EntropyBackend(), [], TemperatureConfig())
    with pytest.raises(ValidationError):
        TemperatureConfig(candidates=[0.0, 1.0])
    with pytest.raises(ValidationError):
        TemperatureConfig(target_entropy=-1)


def test_real_backend_entropy_grows_with_temperature(hf_backend):
    cfg = TemperatureConfig(candidates=[0.05, 0.5, 2.0], refine_steps=1, n_prompts=2, samples_per_prompt=2,
                            max_tokens=6, target_entropy=1.0)
    temperature, table = choose_temperature(hf_backend, CHATS, cfg)
    grid = [r for r in table.to_pylist() if r["phase"] == "grid"]
    entropies = [r["mean_entropy"] for r in grid]
    assert entropies == sorted(entropies) and not any(math.isnan(h) for h in entropies)
    best = min(table.to_pylist(), key=lambda r: r["distance"])
    assert temperature == best["temperature"]
