"""Model synthesis: questions for the weakest skill pairs, kept only when k answers agree."""

import json

import pyarrow as pa
import pytest

from curation.backends.base import Completion, GenerationBackend
from curation.generate import PromptFormat
from curation.skill_synthesis import SkillSynthesisConfig
from curation.skill_writing import PREFIX, agreed_answer, parse_problem, synthesize_for_profile, weakest_pairs
from schemas.errors import InputError


def profile(*rows) -> pa.Table:
    """A skill_profile: (name, pass_rate, n_prompts) per skill, from run r0."""
    return pa.Table.from_pylist([{"skill_id": f"id-{n}", "name": n, "pass_rate": p, "n_prompts": k, "run_id": "r0"}
                                 for n, p, k in rows])


def test_weakest_pairs_have_the_lowest_mean_pass_rate():
    table = profile(("gcd", 0.2, 5), ("sum", 0.9, 5), ("count", 0.4, 5), ("rare", 0.0, 1), ("none", None, 0))
    pairs = weakest_pairs(table, 2, min_prompts=2)
    assert [(a["name"], b["name"]) for a, b in pairs] == [("count", "gcd"), ("gcd", "sum")]
    with pytest.raises(InputError, match="judged 1 skill"):
        weakest_pairs(profile(("gcd", 0.2, 5), ("rare", 0.0, 1)), 1, min_prompts=2)


@pytest.mark.parametrize("responses,expected", [
    (["Answer: 7", "so it is 7.0", "Answer: seven", "Answer: 8"], ("7", 3)),
    (["Answer: Paris", "answer: paris.", "Answer: Rome"], ("Paris", 2)),
    (["", "The problem is unclear to me and I cannot finish it because"], (None, 0)),
    (["Answer: 3 + 4", "Answer: 3 + 4", "Answer: 7"], ("7", 1)),  # restating the question is no answer
])
def test_agreed_answer_groups_by_value(responses, expected):
    assert agreed_answer(responses, "What is 3 + 4?") == expected


def test_parse_problem():
    assert parse_problem("Problem: **Find x such that 2x = 10 and x > 0.**\nSolution: 5") == \
        "Find x such that 2x = 10 and x > 0."
    assert parse_problem("Problem: Sure!") is None


class Teacher(GenerationBackend):
    """Writes scripted problems (per pair, per sample) and answers each question with its script."""

    model_name = "teacher"

    def __init__(self, problems: list[list[tuple[str, str]]], answers: dict[str, list[str]]):
        self.problems, self.answers, self.calls = problems, answers, []

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        self.calls.append((conversations, n, prefixes))
        if prefixes == [PREFIX] * len(conversations):
            return [[Completion(text, 9, finish) for text, finish in self.problems[i][:n]]
                    for i in range(len(conversations))]
        return [[Completion(next(v[j] for q, v in self.answers.items() if q in c[-1]["content"]), 3, "stop")
                 for j in range(n)] for c in conversations]


def test_synthesis_keeps_agreed_questions_and_logs_the_rest():
    agreed, split = "Ann has 3 boxes of 4 pens. How many pens?", "Bob splits 10 sweets among 4. How many each?"
    given = "2 + 1 = 3. Add the numbers."
    teacher = Teacher(
        problems=[[(f" {agreed}\nSolution: 12", "stop"), (" Sure!", "stop")],
                  [(f" {split}", "stop"), (" A very long story that", "length")],
                  [(f" {given}", "stop"), (f" {agreed}", "stop")]],
        answers={agreed: ["Answer: 12", "Answer: 12", "12 pens in total, so the answer is 12", "Answer: 11"],
                 split: ["Answer: 2", "Answer: 3", "Answer: 2.5", "Answer: 2"], given: ["Answer: 3"] * 4})
    table = profile(("gcd", 0.1, 4), ("count", 0.3, 4), ("sum", 0.9, 4))
    cfg = SkillSynthesisConfig(mode="model", n_prompts=6, pairs=3, seed=5)
    result = synthesize_for_profile(teacher, table, cfg, PromptFormat(suffix=" Answer after 'Answer:'."))
    [row] = result.kept.to_pylist()
    meta = json.loads(row["metadata"])
    assert row["prompt"] == agreed and row["answer"] == "12" and row["verifier"] == "math"
    assert row["source"] == "synthesis:model" and meta["skills"] == ["count", "gcd"]
    assert meta["agreement"] == 0.75 and meta["profile_runs"] == ["r0"] and meta["verified_by"] == "agreement"
    assert sorted(result.dropped.column("reason").to_pylist()) == [
        "answers disagree: the most common ('2') in 2 of 4, below 0.75", "no problem in the reply",
        "repeats a question already written", "the problem was cut off at max_tokens",
        "the question states its own answer ('3')"]
    assert set(result.dropped.column("step").to_pylist()) == {"skill_synthesis"}
    writing, answering = teacher.calls
    assert ["count and gcd", "gcd and sum", "count and sum"] == [
        chat[0]["content"].split("skills: ")[1].split(".")[0] for chat in writing[0]]
    assert writing[1] == 2 and answering[1] == 4  # two questions per pair, k answers per question
    assert answering[0][0][-1]["content"].endswith("Answer after 'Answer:'.")
