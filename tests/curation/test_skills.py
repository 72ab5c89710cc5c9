"""Skill inventory (metadata, config, model), near-duplicate merge, model and embedding tagging."""

import json

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.backends.base import Completion, GenerationBackend
from curation.skill_tagging import (
    TaggingConfig,
    parse_skill_reply,
    tag_by_embedding,
    tag_with_model,
)
from curation.skills import (
    SkillInventoryConfig,
    combine_inventories,
    inventory_from_metadata,
    merge_near_duplicates,
    remap_prompt_skills,
    skill_id,
    skills_table,
)
from schemas.errors import InputError
from word_embedder import WordEmbedder


class ScriptedBackend(GenerationBackend):
    """Replies with fixed texts, cycling, per call."""

    model_name = "scripted"

    def __init__(self, replies):
        self.replies, self.calls = replies, []

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        self.calls.append(conversations)
        return [[Completion(self.replies[(i * n + j) % len(self.replies)], 5, "stop") for j in range(n)]
                for i in range(len(conversations))]


def prompt_table():
    return pa.table({"prompt_id": ["a", "b", "c"], "task": ["chain_sum", "gcd", "chain_sum"],
                     "prompt": ["What is 4 + 1?", "Find the gcd of 4 and 16.", "Compute 2 - 7."],
                     "metadata": [json.dumps({"skills": ["carrying"]}), "{}", None]})


def test_inventory_from_metadata_and_config():
    cfg = SkillInventoryConfig(inventory=[{"name": "Long division"}], metadata_keys=["skills"],
                               task_skills={"gcd": ["greatest common divisor"]})
    skills, links = inventory_from_metadata(prompt_table(), cfg)
    assert sorted(skills.column("name").to_pylist()) == ["carrying", "chain sum", "greatest common divisor",
                                                          "long division"]
    pairs = set(zip(links.column("prompt_id").to_pylist(), links.column("skill_id").to_pylist()))
    assert pairs == {("a", skill_id("chain_sum")), ("a", skill_id("carrying")), ("c", skill_id("chain sum")),
                     ("b", skill_id("Greatest common divisor"))}


def test_duplicate_inventory_is_a_clear_error():
    with pytest.raises(ValidationError, match="rows 0 and 1 name the same skill"):
        SkillInventoryConfig(inventory=[{"name": "Long_Division"}, {"name": "long division"}])
    with pytest.raises(InputError, match="same skill"):
        skills_table(["gcd", "GCD."])
    with pytest.raises(InputError, match="empty skill name"):
        skills_table(["  "])


def test_merge_near_duplicates_keeps_best_origin_and_remaps_links():
    skills = combine_inventories(skills_table(["integer addition"], origin="metadata"),
                                 skills_table(["addition of integer", "gcd"], origin="model"))
    merged, alias = merge_near_duplicates(skills, WordEmbedder(), threshold=0.7)
    assert sorted(merged.column("name").to_pylist()) == ["gcd", "integer addition"]
    assert alias == {skill_id("addition of integer"): skill_id("integer addition")}
    links = pa.table({"prompt_id": ["a", "a"],
                      "skill_id": [skill_id("addition of integer"), skill_id("integer addition")],
                      "confidence": [0.9, 0.5], "origin": ["model", "metadata"]})
    out = remap_prompt_skills(links, alias)
    assert out.num_rows == 1 and out.column("confidence")[0].as_py() == 0.9


@pytest.mark.parametrize("reply,expected", [
    ("Skills: 2, 1", [1, 0]),
    ("skills - 3. greatest common divisor", [2]),
    ("I think you need Chain Sum and carrying", [0, 1]),
    ("Skills: chian sum", [0]),
    ("Skills: 9, banana", []),
    ("**Skills:**\n- 2\n- 2\n- 3\n- 1", [1, 2]),
])
def test_parse_skill_reply_is_robust(reply, expected):
    names = ["chain sum", "carrying", "greatest common divisor"]
    assert parse_skill_reply(reply, names, max_skills=2) == expected


def test_parse_reply_falls_back_to_embedding():
    names = ["integer addition", "greatest common divisor"]
    assert parse_skill_reply("Skills: addition of two integers", names, max_skills=3) == []
    assert parse_skill_reply("Skills: addition of two integers", names, max_skills=3,
                             embedder=WordEmbedder(), embed_threshold=0.5) == [0]


def test_tag_with_model_votes_into_confidence():
    skills = skills_table(["chain sum", "gcd"])
    backend = ScriptedBackend(["Skills: 1", "Skills: 1, 2", "no idea"])
    tags = tag_with_model(backend, prompt_table(), skills, TaggingConfig(votes=3, min_confidence=0.5))
    assert tags.column("skill_id").to_pylist() == [skill_id("chain sum")] * 3
    assert tags.column("confidence").to_pylist() == pytest.approx([2 / 3] * 3)
    assert "1. chain sum\n2. gcd" in backend.calls[0][0][1]["content"]


def test_tag_by_embedding_picks_nearest_skill():
    skills = skills_table(["gcd of numbers", "sum of numbers"], ["greatest common divisor", "add numbers"])
    prompts = pa.table({"prompt_id": ["x"], "prompt": ["find the greatest common divisor of numbers"]})
    tags = tag_by_embedding(prompts, skills, WordEmbedder(), TaggingConfig(max_skills=1, embed_threshold=0.3))
    assert tags.column("skill_id").to_pylist() == [skill_id("gcd of numbers")]


def test_tag_by_embedding_in_chunks_tags_like_one_pass(monkeypatch):
    from curation import skill_tagging

    skills = skills_table(["gcd of numbers", "sum of numbers"], ["greatest common divisor", "add numbers"])
    texts = ["find the greatest common divisor", "add these numbers", "sum and divisor", "nothing here", "gcd"]
    prompts = pa.table({"prompt_id": [f"p{i}" for i in range(5)], "prompt": texts})
    cfg = TaggingConfig(max_skills=2, embed_threshold=0.1)
    whole = tag_by_embedding(prompts, skills, WordEmbedder(), cfg)
    monkeypatch.setattr(skill_tagging, "EMBED_CHUNK", 2)
    assert tag_by_embedding(prompts, skills, WordEmbedder(), cfg).to_pylist() == whole.to_pylist()
    assert whole.num_rows >= 3


@pytest.mark.slow
def test_bundled_minilm_merges_paraphrased_skill_names(minilm):
    vectors = minilm.encode(["integer addition", "addition of integers", "greatest common divisor"])
    assert vectors.shape == (3, 384)
    skills = skills_table(["integer addition", "addition of integers", "greatest common divisor"], origin="model")
    merged, alias = merge_near_duplicates(skills, minilm, threshold=0.9)
    assert sorted(merged.column("name").to_pylist()) == ["greatest common divisor", "integer addition"]
    prompts = pa.table({"prompt_id": ["x"], "prompt": ["Find the GCD of 12 and 18."]})
    tags = tag_by_embedding(prompts, merged, minilm, TaggingConfig(max_skills=1, embed_threshold=0.2))
    assert tags.column("skill_id").to_pylist() == [skill_id("greatest common divisor")]
