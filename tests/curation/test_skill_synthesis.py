"""Skill-pair synthesis, compose mode: verifiable composed prompts, composite checking, pair links."""

import json

import pyarrow as pa
import reasoning_gym

from curation.extract import extract_answer
from curation.skill_synthesis import SkillSynthesisConfig, compose_prompts, pair_links, sample_skill_pairs
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


def test_skill_pairs_are_distinct_and_seeded():
    ids = [f"s{i}" for i in range(6)]
    pairs = sample_skill_pairs(ids, 5, seed=3)
    assert len(set(pairs)) == 5 and all(a < b for a, b in pairs)
    assert pairs == sample_skill_pairs(ids, 5, seed=3) != sample_skill_pairs(ids, 5, seed=4)


def test_compose_skips_unsafe_parts():
    prompts, skills, links = rg_prompts()
    bad = prompts.set_column(prompts.column_names.index("answer"), "answer",
                             pa.array(["1; 2"] * 3 + [None] * 3, pa.string()))
    assert compose_prompts(bad, links, skills, SkillSynthesisConfig()).num_rows == 0


def test_pair_links_tag_synthetic_prompts_with_both_skills():
    prompts, skills, links = rg_prompts()
    composed = compose_prompts(prompts, links, skills, SkillSynthesisConfig(n_prompts=1))
    found, pair = pair_links(pa.concat_tables([prompts, composed]))
    assert sorted(found.column("name").to_pylist()) == ["chain sum", "gcd"]
    assert set(found.column("origin").to_pylist()) == {"synthesis"}
    assert pair.column("prompt_id").to_pylist() == composed.column("prompt_id").to_pylist() * 2
    assert sorted(pair.column("skill_id").to_pylist()) == sorted([skill_id("chain sum"), skill_id("gcd")])
    assert composed.column("source").to_pylist() == ["synthesis:compose"]
