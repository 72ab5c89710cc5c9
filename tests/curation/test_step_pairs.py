"""Step-level pairs: step splitting, prefix values from re-sampled continuations, the pair at the largest drop."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.backends.base import Completion, GenerationBackend
from curation.generate import PromptFormat
from curation.step_pairs import StepPairConfig, largest_drop, probe_points, split_steps, step_pairs

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
    assert largest_drop([(0, 0.5), (1, 1.0), (2, 0.5), (3, 0.0)], 0.25) == 1  # ties: the earliest
    assert largest_drop([(0, 0.5), (1, 0.4), (2, 0.3)], 0.25) is None
    assert largest_drop([(0, 1.0), (1, 0.7), (2, 0.6), (3, 0.0)], 0.25) == 2  # not the first drop >= 0.25


def test_pair_at_first_step_where_value_drops():
    backend = PrefixBackend()
    prompts, gens, verdicts = tables()
    pairs, values = step_pairs(backend, prompts, gens, verdicts, FMT, StepPairConfig(rollouts=4))
    assert backend.prefixes == ["First I read the question.\n",
                                "First I read the question.\nThen I take a shaky guess.\n"]
    curve = [(r["prefix_steps"], r["value"]) for r in values.to_pylist()]
    assert curve == [(0, 0.5), (1, 1.0), (2, 0.5), (3, 0.0)]
    # the value of a prefix is n_correct / n_rollouts: the prompt's 2 samples, 4 rollouts per prefix, the response
    assert [(r["n_correct"], r["n_rollouts"]) for r in values.to_pylist()] == [(1, 2), (4, 4), (2, 4), (0, 1)]
    assert [r["prefix_chars"] for r in values.to_pylist()] == [0, 27, 54, len(WRONG)]
    assert len({r["prefix_hash"] for r in values.to_pylist()}) == 4
    assert [r["divergence"] for r in values.to_pylist()] == [False, True, False, False]
    pair = pairs.to_pylist()[0]
    assert pairs.num_rows == 1 and pair["pair_kind"] == "step" and pair["prompt_id"] == "p"
    assert pair["chosen"] == "First I read the question.\nFinally. Answer: right" and pair["rejected"] == WRONG
    assert pair["chosen_score"] == 1.0 and pair["rejected_score"] == 0.0


SLIP = "First I read the question.\nThen I make a small slip.\nSo I go the wrong way.\nAnswer: wrong"


class SlipBackend(PrefixBackend):
    """A 'small slip' prefix still succeeds 3 times in 4; once on the 'wrong way' nothing does."""

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        self.prefixes += prefixes
        rates = [0.0 if "wrong way" in p else 0.75 if "small slip" in p else 1.0 for p in prefixes]
        return [[Completion("Finally. Answer: right" if i < rate * n else "Answer: wrong", 5, "stop")
                 for i in range(n)] for rate in rates]


def test_step_values_choose_the_pair_at_the_largest_drop():
    """Values 0.5, 1.0, 0.75, 0: the first drop >= min_drop is after step 1 (0.25), the largest
    after step 2 (0.75), where the response goes the wrong way: the pair keeps steps 1-2."""
    prompts, gens, verdicts = tables()
    gens = gens.set_column(3, "response", pa.array(["Answer: right", SLIP, "Answer: right"]))
    pairs, values = step_pairs(SlipBackend(), prompts, gens, verdicts, FMT, StepPairConfig(rollouts=4))
    assert [(r["prefix_steps"], r["value"], r["divergence"]) for r in values.to_pylist()] == [
        (0, 0.5, False), (1, 1.0, False), (2, 0.75, True), (3, 0.0, False)]
    pair = pairs.to_pylist()[0]
    assert pair["chosen"] == "First I read the question.\nThen I make a small slip.\nFinally. Answer: right"
    assert pair["rejected"] == SLIP


def test_no_pairs_for_eval_prompts_or_single_outcome():
    backend = PrefixBackend()
    prompts, gens, verdicts = tables(guard="eval")
    pairs, values = step_pairs(backend, prompts, gens, verdicts, FMT, StepPairConfig())
    assert pairs.num_rows == 0 and values.num_rows == 0 and backend.prefixes == []


def test_prefix_rollouts_on_the_transformers_backend(hf_backend):
    prompts, gens, verdicts = tables()
    pairs, values = step_pairs(hf_backend, prompts, gens, verdicts, FMT,
                               StepPairConfig(rollouts=2, max_tokens=4, temperature=1.0))
    probed = [r for r in values.to_pylist() if 0 < r["prefix_steps"] < r["n_steps"]]
    assert [r["prefix_steps"] for r in probed] == [1, 2] and all(r["n_rollouts"] == 2 for r in probed)
    assert all(p["chosen"].startswith("First I read") for p in pairs.to_pylist())
