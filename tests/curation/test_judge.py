"""LLM-judge pairs: a round robin over every response, both presentation orders, the margin."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.backends.base import Completion, GenerationBackend
from curation.generate import PromptFormat
from curation.judge import JudgeConfig, judge_pairs, parse_judgement, round_robin_scores

FMT = PromptFormat(suffix="")


class JudgeBackend(GenerationBackend):
    """Prefers the response with the higher quality digit in its text ('poem 3' beats 'poem 1');
    a biased judge always answers A."""

    model_name = "judge"

    def __init__(self, biased=False):
        self.biased, self.comparisons = biased, []

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        out = []
        for conv in conversations:
            text = conv[-1]["content"]
            a = text.split("Response A:\n")[1].split("\n\nResponse B:")[0]
            b = text.split("Response B:\n")[1].split("\n\nWhich")[0]
            self.comparisons.append((a, b))
            letter = "A" if self.biased or a[-1] > b[-1] else "B"
            out.append([Completion(f"Response {letter}.", 3, "stop") for _ in range(n)])
        return out


def open_prompt(responses):
    prompts = pa.table({"prompt_id": ["o"], "prompt": ["Write a haiku."], "answer": pa.array([None], pa.string()),
                        "verifier": pa.array([None], pa.string()), "metadata": ["{}"], "split_guard": ["train"]})
    gens = pa.table({"prompt_id": ["o"] * len(responses), "sample_index": list(range(len(responses))),
                     "response": responses})
    return prompts, gens


def test_every_response_is_compared_and_the_best_wins():
    """The best response is the last of four: judging only the first two (the old way) could never choose it."""
    prompts, gens = open_prompt(["poem 2", "poem 1", "poem 0", "poem 3"])
    judge = JudgeBackend()
    pairs = judge_pairs(judge, prompts, gens, FMT, JudgeConfig(votes=1)).to_pylist()
    assert len(judge.comparisons) == 12  # 6 pairs x 2 orders
    assert {frozenset(c) for c in judge.comparisons} == {frozenset(c) for c in [
        ("poem 2", "poem 1"), ("poem 2", "poem 0"), ("poem 2", "poem 3"), ("poem 1", "poem 0"),
        ("poem 1", "poem 3"), ("poem 0", "poem 3")]}
    assert len(pairs) == 1 and (pairs[0]["chosen"], pairs[0]["rejected"]) == ("poem 3", "poem 0")
    assert pairs[0]["chosen_score"] == 1.0 and pairs[0]["rejected_score"] == 0.0
    more = judge_pairs(JudgeBackend(), prompts, gens, FMT, JudgeConfig(votes=1, max_pairs_per_prompt=3)).to_pylist()
    assert [(p["chosen"], p["rejected"]) for p in more][:1] == [("poem 3", "poem 0")] and len(more) == 3
    two = judge_pairs(JudgeBackend(), prompts, gens, FMT, JudgeConfig(votes=1, max_responses=2)).to_pylist()
    assert (two[0]["chosen"], two[0]["rejected"]) == ("poem 2", "poem 1")


def test_judge_pairs_need_agreement_across_orders():
    prompts, gens = open_prompt(["poem 1", "poem 2"])
    pairs = judge_pairs(JudgeBackend(), prompts, gens, FMT, JudgeConfig())
    assert pairs.to_pylist()[0]["chosen"] == "poem 2" and pairs.column("pair_kind")[0].as_py() == "judge"
    assert judge_pairs(JudgeBackend(biased=True), prompts, gens, FMT, JudgeConfig()).num_rows == 0


def test_round_robin_scores():
    assert round_robin_scores(3, {(0, 1): (4, 4), (0, 2): (2, 4), (1, 2): (0, 0)}) == [0.75, 0.0, 0.5]


def test_parse_judgement():
    assert parse_judgement("Response B is better") == "B"
    assert parse_judgement("**A**") == "A"
    assert parse_judgement("I like B.") == "B"
    assert parse_judgement("A and B are both fine") is None and parse_judgement("neither") is None


def test_an_engine_needs_a_judge_model():
    assert JudgeConfig().model == "policy"
    with pytest.raises(ValidationError, match="also set judge.model"):
        JudgeConfig(backend="transformers")
    assert JudgeConfig(model="other", backend="transformers").backend == "transformers"
