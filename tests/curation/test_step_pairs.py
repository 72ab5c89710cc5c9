"""Step-level pairs: step splitting, prefix values from re-sampled continuations, the divergence pair, judge pairs."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.backends.base import Completion, GenerationBackend
from curation.generate import PromptFormat
from curation.step_pairs import (
    JudgeConfig,
    StepPairConfig,
    first_divergence,
    judge_pairs,
    parse_judgement,
    probe_points,
    split_steps,
    step_pairs,
)

FMT = PromptFormat(suffix="")
WRONG = "First I read the question.\nThen I take a shaky guess.\nSo I go the wrong way.\nAnswer: wrong"


class PrefixBackend(GenerationBackend):
    """Continuations succeed unless the prefix took the wrong way; a 'shaky' prefix succeeds half the time."""

    model_name = "prefix"

    def __init__(self):
        self.prefixes = []

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        self.prefixes += prefixes
        out = []
        for prefix in prefixes:
            if "wrong way" in prefix:
                ok = [False] * n
            elif "shaky" in prefix:
                ok = [i % 2 == 0 for i in range(n)]
            else:
                ok = [True] * n
            out.append([Completion("Finally. Answer: right" if good else "Answer: wrong", 5, "stop") for good in ok])
        return out


def tables(guard="train"):
    prompts = pa.table({"prompt_id": ["p", "q"], "prompt": ["What way?", "Easy?"], "answer": ["right", "right"],
                        "verifier": ["exact", "exact"], "metadata": ["{}", "{}"], "split_guard": [guard, guard]})
    gens = pa.table({"generation_id": ["g1", "g2", "g3"], "prompt_id": ["p", "p", "q"], "sample_index": [0, 1, 0],
                     "response": ["Answer: right", WRONG, "Answer: right"], "finish_reason": ["stop"] * 3})
    verdicts = pa.table({"generation_id": ["g1", "g2", "g3"], "correct": [True, False, True]})
    return prompts, gens, verdicts


def test_split_steps_on_lines_and_sentences():
    assert split_steps(WRONG) == ["First I read the question.\n", "Then I take a shaky guess.\n",
                                  "So I go the wrong way.\nAnswer: wrong"]
    assert split_steps("We add 2 and 3. That gives 5. So the answer is 5.", min_step_chars=5) == [
        "We add 2 and 3.", " That gives 5.", " So the answer is 5."]
    assert len(split_steps("\n".join(f"line number {i}" for i in range(30)), max_steps=4)) == 4


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab .\nA1", max_size=200), st.integers(2, 6), st.integers(1, 10))
def test_split_steps_joins_back(text, max_steps, min_chars):
    steps = split_steps(text, max_steps, min_chars)
    assert "".join(steps) == text and len(steps) <= max_steps


def test_probe_points_and_divergence():
    assert probe_points(3, 4) == [1, 2] and probe_points(20, 3) == [1, 10, 19]
    assert first_divergence([(0, 0.5), (1, 1.0), (2, 0.5), (3, 0.0)], 0.25) == 1
    assert first_divergence([(0, 0.5), (1, 0.4), (2, 0.3)], 0.25) is None


def test_pair_at_first_step_where_value_drops():
    backend = PrefixBackend()
    prompts, gens, verdicts = tables()
    pairs, values = step_pairs(backend, prompts, gens, verdicts, FMT, StepPairConfig(rollouts=4))
    assert backend.prefixes == ["First I read the question.\n",
                                "First I read the question.\nThen I take a shaky guess.\n"]
    curve = [(r["prefix_steps"], r["value"]) for r in values.to_pylist()]
    assert curve == [(0, 0.5), (1, 1.0), (2, 0.5), (3, 0.0)]
    assert [r["divergence"] for r in values.to_pylist()] == [False, True, False, False]
    pair = pairs.to_pylist()[0]
    assert pairs.num_rows == 1 and pair["pair_kind"] == "step" and pair["prompt_id"] == "p"
    assert pair["chosen"] == "First I read the question.\nFinally. Answer: right" and pair["rejected"] == WRONG
    assert pair["chosen_score"] == 1.0 and pair["rejected_score"] == 0.0


def test_no_pairs_for_eval_prompts_or_single_outcome():
    backend = PrefixBackend()
    prompts, gens, verdicts = tables(guard="eval")
    pairs, values = step_pairs(backend, prompts, gens, verdicts, FMT, StepPairConfig())
    assert pairs.num_rows == 0 and values.num_rows == 0 and backend.prefixes == []


class JudgeBackend(GenerationBackend):
    model_name = "judge"

    def __init__(self, biased=False):
        self.biased = biased

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        out = []
        for conv in conversations:
            text = conv[-1]["content"]
            a_part = text.split("Response A:")[1].split("Response B:")[0]
            letter = "A" if self.biased or "good" in a_part else "B"
            out.append([Completion(f"Response {letter}.", 3, "stop") for _ in range(n)])
        return out


def test_judge_pairs_need_agreement_across_orders():
    prompts = pa.table({"prompt_id": ["o"], "prompt": ["Write a haiku."], "answer": pa.array([None], pa.string()),
                        "verifier": pa.array([None], pa.string()), "metadata": ["{}"], "split_guard": ["train"]})
    gens = pa.table({"prompt_id": ["o", "o"], "sample_index": [0, 1], "response": ["bad poem", "good poem"]})
    pairs = judge_pairs(JudgeBackend(), prompts, gens, FMT, JudgeConfig())
    assert pairs.to_pylist()[0]["chosen"] == "good poem" and pairs.column("pair_kind")[0].as_py() == "judge"
    assert judge_pairs(JudgeBackend(biased=True), prompts, gens, FMT, JudgeConfig()).num_rows == 0


def test_parse_judgement():
    assert parse_judgement("Response B is better") == "B"
    assert parse_judgement("**A**") == "A"
    assert parse_judgement("I like B.") == "B"
    assert parse_judgement("A and B are both fine") is None and parse_judgement("neither") is None


def test_prefix_rollouts_on_the_transformers_backend(hf_backend):
    prompts, gens, verdicts = tables()
    pairs, values = step_pairs(hf_backend, prompts, gens, verdicts, FMT,
                               StepPairConfig(rollouts=2, max_tokens=4, temperature=1.0))
    probed = [r for r in values.to_pylist() if r["n_rollouts"]]
    assert [r["prefix_steps"] for r in probed] == [1, 2] and all(r["n_rollouts"] == 2 for r in probed)
    assert all(p["chosen"].startswith("First I read") for p in pairs.to_pylist())
