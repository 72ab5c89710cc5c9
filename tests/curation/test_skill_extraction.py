"""Skill extraction: noisy replies parsed into skill names, merged, kept by support, tagged per prompt."""

import pytest

from curation.backends.base import Completion, GenerationBackend
from curation.skill_extraction import (
    PREFIX,
    SkillExtractionConfig,
    ask_for_skills,
    extracted_inventory,
    parse_skill_names,
    settings_id,
)
from curation.skills import skill_id
from word_embedder import WordEmbedder


@pytest.mark.parametrize("reply,expected", [
    (" Addition, carrying the one", ["addition", "carrying the one"]),
    ("\n1. **Addition** (7)\n2. Understanding of the concept of division\n3. Problem-solving skills",
     ["addition", "division", "problem solving"]),
    (" Addition and Subtraction, Multiplication: 7 * 2", ["addition", "subtraction", "multiplication"]),
    ("\n- Greatest Common Divisor (GCD) - find the largest factor\n- 12, 18\n- the answer is 6 because",
     ["greatest common divisor"]),
    (" Math skills, skills, Skills", ["math"]),
    (" 1 + 5 = 6", []),
    ("\n1. \"the\"\n2. The\n3. Math problem\n4. Problem solving", ["problem solving"]),
])
def test_parse_skill_names_keeps_short_names_only(reply, expected):
    assert parse_skill_names(reply, 3) == expected


def test_parse_stops_at_the_per_prompt_limit():
    assert parse_skill_names(" long division, mental math, place value", 2) == ["long division", "mental math"]


class Replies(GenerationBackend):
    """Replies per conversation in order, recording what it was asked."""

    model_name = "scripted"

    def __init__(self, replies):
        self.replies, self.calls = replies, []

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        self.calls.append((conversations, n, prefixes))
        return [[Completion(self.replies[i][j], 4, "stop") for j in range(n)] for i in range(len(conversations))]


def test_ask_for_skills_asks_once_with_the_list_prefix():
    backend = Replies([["x", "y"], ["z", "w"]])
    replies = ask_for_skills(backend, ["What is 2 + 3?", "gcd of 4 and 6?"], SkillExtractionConfig(votes=2))
    assert replies == [["x", "y"], ["z", "w"]]
    [(conversations, n, prefixes)] = backend.calls
    assert n == 2 and prefixes == [PREFIX, PREFIX]
    assert "What is 2 + 3?" in conversations[0][-1]["content"]
    assert ask_for_skills(backend, [], SkillExtractionConfig()) == [] and len(backend.calls) == 1


def test_settings_id_changes_with_what_shapes_a_reply():
    base = SkillExtractionConfig()
    assert settings_id(base) == settings_id(SkillExtractionConfig(min_support=5, max_skills=3))
    assert settings_id(base) != settings_id(SkillExtractionConfig(votes=3))


def test_extracted_inventory_merges_counts_support_and_tags_several_skills():
    replies = [[" integer addition, carrying", " addition of integer"],  # one skill, two spellings
               [" integer addition, place value", " integer addition"],
               [" greatest common divisor", " greatest common divisor, prime factors"],
               [" greatest common divisor, carrying", " nonsense sentence that goes on and on"]]
    cfg = SkillExtractionConfig(min_support=2, merge_threshold=0.7)
    skills, links = extracted_inventory(["a", "b", "c", "d"], replies, cfg, WordEmbedder())
    names = skills.column("name").to_pylist()
    assert sorted(names) == ["carrying", "greatest common divisor", "integer addition"]  # support >= 2
    assert set(skills.column("origin").to_pylist()) == {"model"}
    tags = {(r["prompt_id"], r["skill_id"]): r["confidence"] for r in links.to_pylist()}
    assert tags == {("a", skill_id("integer addition")): 1.0, ("a", skill_id("carrying")): 0.5,
                    ("b", skill_id("integer addition")): 1.0,
                    ("c", skill_id("greatest common divisor")): 1.0,
                    ("d", skill_id("greatest common divisor")): 0.5, ("d", skill_id("carrying")): 0.5}


def test_extracted_inventory_keeps_the_most_named_skills():
    replies = [[" alpha, beta"], [" alpha, beta"], [" alpha, gamma"], [" gamma"], [" alpha"]]
    cfg = SkillExtractionConfig(min_support=1, max_skills=2, merge_threshold=0.99)
    skills, links = extracted_inventory(list("abcde"), replies, cfg, WordEmbedder())
    assert sorted(skills.column("name").to_pylist()) == ["alpha", "beta"]  # 4 and 2 prompts; gamma ties at 2
    assert skill_id("gamma") not in links.column("skill_id").to_pylist()
    empty, none = extracted_inventory(["a"], [[" 1 + 1 = 2"]], cfg, WordEmbedder())
    assert empty.num_rows == 0 and none.num_rows == 0
