"""Skill-pair synthesis: verifiable composed prompts, model-written prompts, composite checking."""

import json

import pyarrow as pa
import reasoning_gym

from curation.backends.base import Completion, GenerationBackend
from curation.extract import extract_answer
from curation.skill_synthesis import (
    SkillSynthesisConfig,
    compose_prompts,
    parse_problem,
    sample_skill_pairs,
    split_verifiable,
    synthesize_with_model,
)
from curation.skills import skill_id, skills_table
from curation.verifiers import composite_check


def rg_prompts():
    rows = []
    for task, kw in (("chain_sum", dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1)),
                     ("gcd", dict(min_numbers=2, max_numbers=2, min_value=1, max_value=20))):
        for i, e in enumerate(reasoning_gym.create_dataset(task, size=3, seed=1, **kw)):
            rows.append({"prompt_id": f"{task}{i}", "source": "reasoning_gym", "task": task, "prompt": e["question"],
                         "answer": e["answer"], "verifier": "reasoning_gym", "metadata": json.dumps(e["metadata"]),
                         "split_guard": "train"})
    prompts = pa.Table.from_pylist(rows)
    skills = skills_table(["chain sum", "gcd"], origin="metadata")
    links = pa.table({"prompt_id": prompts.column("prompt_id"),
                      "skill_id": [skill_id(r["task"].replace("_", " ")) for r in rows]})
    return prompts, skills, links


def test_compose_makes_checkable_prompts():
    prompts, skills, links = rg_prompts()
    out = compose_prompts(prompts, links, skills, SkillSynthesisConfig(n_prompts=5))
    assert out.num_rows == 1  # one skill pair exists
    row = out.to_pylist()[0]
    meta = json.loads(row["metadata"])
    assert row["verifier"] == "composite" and row["task"] == "chain_sum+gcd"
    assert row["answer"] == "; ".join(p["answer"] for p in meta["parts"])
    assert all(p["question"] in row["prompt"] for p in meta["parts"])
    right = f"Working... Answer: {row['answer']}"
    extracted, _ = extract_answer(right)
    assert composite_check(extracted, meta)[0] == 1.0
    first = meta["parts"][0]["answer"]
    score, note = composite_check(f"{first}; 999", meta)
    assert score == 0.5 and "parts 1/0" in note
    assert composite_check(first, meta)[0] == 0.0  # one answer for two questions


def test_missing_boost_favours_pairs_with_missing_skills():
    ids = [f"s{i}" for i in range(6)]
    pairs = sample_skill_pairs(ids, 3, seed=0, missing={"s5": 1.0}, missing_boost=50.0)
    assert len(pairs) == 3 and len(set(pairs)) == 3 and all("s5" in p for p in pairs)


def test_compose_skips_unsafe_parts():
    prompts, skills, links = rg_prompts()
    bad = prompts.set_column(prompts.column_names.index("answer"), "answer",
                             pa.array(["1; 2"] * 3 + [None] * 3, pa.string()))
    assert compose_prompts(bad, links, skills, SkillSynthesisConfig()).num_rows == 0


class ScriptedBackend(GenerationBackend):
    model_name = "scripted"

    def __init__(self, replies):
        self.replies, self.seen = replies, []

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        self.seen += conversations
        return [[Completion(self.replies[i % len(self.replies)], 9, "stop")] for i in range(len(conversations))]


def test_model_synthesis_never_reaches_rl():
    skills = skills_table(["chain sum", "gcd", "counting"], ["add numbers", "divisors", "count letters"])
    backend = ScriptedBackend(["Problem: Tom has 12 apples and 18 pears; what is the largest group size?\n"
                               "Solution: 6", "ok"])
    out = synthesize_with_model(backend, skills, SkillSynthesisConfig(mode="model", n_prompts=3))
    assert out.num_rows == 2  # "ok" is not a problem
    first = out.column("prompt")[0].as_py()
    assert first.startswith("Tom has 12 apples") and "Solution" not in first
    assert "needs both of these skills" in backend.seen[0][0]["content"]
    prompts, skills2, links = rg_prompts()
    composed = compose_prompts(prompts, links, skills2, SkillSynthesisConfig())
    result = split_verifiable(pa.concat_tables([out, composed]))
    kept, dropped = result.kept, result.dropped
    assert kept.column("verifier").to_pylist() == ["composite"]
    assert dropped.num_rows == 2 and set(dropped.column("reason").to_pylist()) == {"no checkable answer: not for RL"}


def test_parse_problem():
    assert parse_problem("**Problem:** Find x such that 2x = 10 and x > 0.") == "Find x such that 2x = 10 and x > 0."
    assert parse_problem("Sure!") is None
