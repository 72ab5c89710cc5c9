"""Adaptive k sampling: rounds, stop rules, effective k, and parity with fixed-k on the same samples."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.adaptive import (
    AdaptiveConfig,
    chance_of_other_outcome,
    fit_beta_prior,
    sample_adaptively,
    stop_reason,
)
from curation.backends.base import Completion, GenerationBackend, Sampling
from curation.generate import PromptFormat, SampleIdentity

FMT = PromptFormat(suffix="")


class ReplayBackend(GenerationBackend):
    """Serves each prompt its own fixed sequence of right/wrong answers, in order."""

    model_name = "replay"

    def __init__(self, outcomes: dict[str, list[bool]]):
        self.outcomes, self.cursor, self.tokens = outcomes, {q: 0 for q in outcomes}, 0

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        out = []
        for conv in conversations:
            question = conv[-1]["content"]
            start = self.cursor[question]
            self.cursor[question] += n
            out.append([Completion("Answer: right" if ok else "Answer: wrong", 10, "stop")
                        for ok in self.outcomes[question][start:start + n]])
            self.tokens += 10 * n
        return out


def prompts_for(outcomes):
    questions = list(outcomes)
    return pa.table({"prompt_id": [f"p{i}" for i in range(len(questions))], "prompt": questions,
                     "answer": ["right"] * len(questions), "verifier": ["exact"] * len(questions),
                     "metadata": ["{}"] * len(questions)})


OUTCOMES = {
    "mixed early": [True, False] + [True] * 6,
    "mixed late": [False, False, False, True] + [False] * 4,
    "never": [False] * 8,
    "always": [True] * 8,
}


def test_stops_mixed_prompts_and_records_effective_k():
    backend = ReplayBackend(OUTCOMES)
    cfg = AdaptiveConfig(initial_k=2, round_k=2, max_k=8, give_up_probability=0.0)
    res = sample_adaptively(backend, prompts_for(OUTCOMES), FMT, Sampling(), cfg)
    ek = {r["prompt_id"]: r for r in res.effective_k.to_pylist()}
    assert (ek["p0"]["effective_k"], ek["p0"]["stop_reason"], ek["p0"]["rounds"]) == (2, "mixed", 1)
    assert (ek["p1"]["effective_k"], ek["p1"]["n_correct"], ek["p1"]["stop_reason"]) == (4, 1, "mixed")
    assert ek["p2"]["effective_k"] == 8 and ek["p2"]["stop_reason"] == "max_k"
    assert ek["p0"]["ci_low"] < 0.5 < ek["p0"]["ci_high"]
    assert res.generations.num_rows == 2 + 4 + 8 + 8 == res.verdicts.num_rows
    # the same ids a fixed-k run would give, so re-runs and raised k reuse these samples
    ids = set(res.generations.column("generation_id").to_pylist())
    assert SampleIdentity.of(backend, FMT, Sampling()).generation_id("p1", "mixed late", 3) in ids
    assert sorted(res.generations.filter(pa.compute.equal(res.generations.column("prompt_id"), "p1"))
                  .column("sample_index").to_pylist()) == [0, 1, 2, 3]


def test_give_up_saves_tokens_on_hopeless_prompts():
    outcomes = {f"hard {i}": [False] * 8 for i in range(20)}
    outcomes.update({f"mixed {i}": [True, True, False] + [True] * 5 for i in range(3)})
    patient = ReplayBackend(outcomes)
    sample_adaptively(patient, prompts_for(outcomes), FMT, Sampling(), AdaptiveConfig(give_up_probability=0.0))
    eager = ReplayBackend(outcomes)
    res = sample_adaptively(eager, prompts_for(outcomes), FMT, Sampling(), AdaptiveConfig(give_up_probability=0.1))
    assert eager.tokens <= 0.6 * patient.tokens  # a mostly hopeless population: stop them at 4 of 8
    reasons = res.effective_k.column("stop_reason").to_pylist()
    assert reasons.count("mixed") == 3 and reasons.count("all_wrong_settled") == 20


@pytest.mark.parametrize("seed", range(5))
def test_kept_set_matches_fixed_k_on_the_same_samples(seed):
    import random

    rng = random.Random(seed)
    outcomes = {}
    for i in range(30):
        p = rng.choice([0.0, 0.0, 0.05, 0.3, 0.6, 1.0])
        outcomes[f"q{i}"] = [rng.random() < p for _ in range(8)]
    fixed_kept = {f"p{i}" for i, seq in enumerate(outcomes.values()) if 0 < sum(seq) < 8}
    backend = ReplayBackend(outcomes)
    res = sample_adaptively(backend, prompts_for(outcomes), FMT, Sampling(), AdaptiveConfig(give_up_probability=0.0))
    kept = {r["prompt_id"] for r in res.effective_k.to_pylist() if 0 < r["n_correct"] < r["effective_k"]}
    assert kept == fixed_kept and backend.tokens <= 30 * 8 * 10


def test_sft_and_pass_rate_rules():
    cfg = AdaptiveConfig(settle_for="sft", sft_correct=2)
    prior = (0.5, 0.5)
    assert stop_reason(2, 1, cfg, prior) is None and stop_reason(4, 2, cfg, prior) == "sft_correct"
    cfg = AdaptiveConfig(settle_for="pass_rate", ci_half_width=0.2, max_k=64)
    assert stop_reason(4, 2, cfg, prior) is None and stop_reason(24, 12, cfg, prior) == "ci_narrow"
    assert stop_reason(2, 1, AdaptiveConfig(min_k=4), prior) is None
    assert stop_reason(8, 0, AdaptiveConfig(give_up_probability=0.0), prior) == "max_k"


def test_beta_prior_and_chance():
    a, b = fit_beta_prior([0, 0, 0, 2, 2, 0, 0, 1], [2] * 8)
    assert a < 1 and b < 3
    chances = [chance_of_other_outcome(n, 0, 8 - n, (a, b)) for n in (2, 4, 6)]
    assert chances == sorted(chances, reverse=True) and all(0 < c < 1 for c in chances)
    assert chance_of_other_outcome(8, 0, 0, (a, b)) == 0.0
    assert chance_of_other_outcome(2, 2, 6, (a, b)) > 0


def test_bad_config():
    with pytest.raises(ValidationError, match="must be <= max_k"):
        AdaptiveConfig(initial_k=10, max_k=8)
    with pytest.raises(ValidationError):
        AdaptiveConfig(give_up_probability=2)


def test_runs_on_the_transformers_backend(hf_backend):
    prompts = prompts_for({"What is 2 + 2?": [], "What is 3 + 1?": []})
    sampling = Sampling(temperature=1.0, max_tokens=4)
    res = sample_adaptively(hf_backend, prompts, FMT, sampling, AdaptiveConfig(initial_k=1, round_k=1, max_k=3))
    ek = res.effective_k.to_pylist()
    assert all(1 <= r["effective_k"] <= 3 for r in ek)
    assert res.generations.num_rows == sum(r["effective_k"] for r in ek) == res.verdicts.num_rows
    assert sum(r["tokens"] for r in ek) == sum(res.generations.column("n_tokens").to_pylist())


def test_priors_per_task_only_when_asked_and_large_enough():
    from curation.adaptive import fit_priors

    ids = [f"p{i}" for i in range(20)]
    groups = ["easy"] * 10 + ["hard"] * 8 + ["tiny"] * 2
    counts = {p: [2, 2 if i < 10 else 0, 1, 0] for i, p in enumerate(ids)}
    pooled = fit_priors(ids, groups, counts, AdaptiveConfig())
    assert len(set(pooled.values())) == 1
    by_task = fit_priors(ids, groups, counts, AdaptiveConfig(prior_by_task=True))
    easy, hard, tiny = by_task["p0"], by_task["p10"], by_task["p18"]
    assert easy[0] / sum(easy) > 0.9 and hard[0] / sum(hard) < 0.1 and tiny == pooled["p0"]
