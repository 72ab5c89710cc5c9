"""Skill-pair synthesis: new prompts that need two skills, and the config of both ways to make them.

mode "model" (STAT-Syn, Instruct-SkillMix's data generation; curation/skill_writing.py): the
backend writes new questions for the weakest skill pairs of a Missing-Skill-Profile, and keeps
those whose answer k samples agree on. mode "compose" (no paper; a verifiable stand-in that needs
no model): two existing verifiable prompts of a random skill pair asked together ("answer both"),
gold "X; Y", checked part by part by the "composite" verifier (curation/verifiers.py).
Either way the new prompts record their origin and skill pair in `metadata`; `pair_links` tags
them with both skills, so the next profile measures the pair.
"""

import json
from itertools import combinations
from typing import Literal

import pyarrow as pa
from pydantic import Field

from curation.mixing import weighted_order
from curation.skills import links_table, normalize_skill_name, skill_id, skills_table
from curation.verifiers import COMPOSITE
from schemas.config import StrictModel
from schemas.ids import content_id
from schemas.tables import step_schema

COMPOSE_TEMPLATE = ("Answer both questions.\n\n(1) {q1}\n\n(2) {q2}\n\nGive both final answers on the last "
                    "line as 'Answer: <answer to (1)>; <answer to (2)>'.")
COMPOSED = "synthesis:compose"  # the source and metadata origin of composed prompts
WRITTEN = "synthesis:model"  # ... and of model-written ones
ORIGINS = (COMPOSED, WRITTEN)
PROMPT_SCHEMA = step_schema("prompts")  # what a synthetic prompts table holds (the lake stamps run_id)


class AgreementConfig(StrictModel):
    """When a model-written question counts as checkable: k answers agree on one final answer."""

    k: int = Field(4, ge=2, le=64, description="answers sampled per written question")
    min_share: float = Field(0.75, gt=0.5, le=1.0,
                             description="keep a question when its most common answer has this share of the k")
    temperature: float = Field(0.7, ge=0.0, description="sampling temperature of the answers")
    max_tokens: int = Field(192, ge=8, description="most tokens of one answer")


class SkillSynthesisConfig(StrictModel):
    """How many skill-pair prompts to make, and how."""

    n_prompts: int = Field(32, ge=0, description="synthetic prompts to make (model: questions to write)")
    mode: Literal["compose", "model"] = Field(
        "compose", description="model: write new questions for the profile's weakest pairs (STAT-Syn); "
        "compose: ask two existing verifiable prompts together")
    pairs: int = Field(4, ge=1, description="model: write for this many of the profile's weakest skill pairs")
    profile_run: str | None = Field(
        None, description="model: the curate run whose skill_profile names the weakest pairs; "
        "null: this policy's latest profile in the lake, matched by the model's fingerprint (a loop sets the "
        "previous round's)")
    agreement: AgreementConfig = Field(default_factory=AgreementConfig)
    max_part_chars: int = Field(1200, ge=50, description="compose: skip source prompts longer than this")
    temperature: float = Field(0.8, ge=0.0, description="model: sampling temperature of the writing")
    max_tokens: int = Field(160, ge=16, description="model: most tokens of a written question")
    seed: int = Field(0, ge=0)


def sample_skill_pairs(skill_ids: list[str], n: int, seed: int, *, allowed=None) -> list[tuple[str, str]]:
    """n distinct unordered skill pairs drawn uniformly (seeded), as Instruct-SkillMix does."""
    pairs = [p for p in combinations(sorted(set(skill_ids)), 2) if allowed is None or allowed(p)]
    order = weighted_order([f"{a}|{b}" for a, b in pairs], [1.0] * len(pairs), seed)
    return [pairs[i] for i in order[:n]]


def _eligible(row: dict, cfg: SkillSynthesisConfig) -> bool:
    """A part needs a gold answer that survives joining with ';' and a plain verifier."""
    answer = row["answer"]
    return (answer is not None and row["verifier"] not in (None, COMPOSITE) and ";" not in answer
            and "\n" not in answer.strip() and len(row["prompt"]) <= cfg.max_part_chars)


def compose_prompts(prompts: pa.Table, prompt_skills: pa.Table, skills: pa.Table,
                    cfg: SkillSynthesisConfig) -> pa.Table:
    """Verifiable skill-pair prompts: one prompt per skill of a sampled pair, asked together."""
    rows = {r["prompt_id"]: r for r in prompts.select(PROMPT_SCHEMA.names).to_pylist() if _eligible(r, cfg)}
    by_skill: dict[str, list[str]] = {}
    links = zip(prompt_skills.column("prompt_id").to_pylist(), prompt_skills.column("skill_id").to_pylist())
    for pid, sid in links:
        if pid in rows:
            by_skill.setdefault(sid, []).append(pid)
    names = dict(zip(skills.column("skill_id").to_pylist(), skills.column("name").to_pylist()))
    usable = [s for s in names if s in by_skill]
    # a pair needs two different prompts
    pairs = sample_skill_pairs(usable, cfg.n_prompts, cfg.seed,
                               allowed=lambda p: len(set(by_skill[p[0]]) | set(by_skill[p[1]])) >= 2)
    out = []
    for index, (a, b) in enumerate(pairs):
        only_b = set(by_skill[b])
        first = _pick(by_skill[a], cfg.seed, index, exclude=only_b.pop() if len(only_b) == 1 else None)
        second = _pick(by_skill[b], cfg.seed, index, exclude=first)
        out.append(_composite_row(rows[first], rows[second], [names[a], names[b]]))
    return pa.Table.from_pylist(out, schema=PROMPT_SCHEMA)


def _pick(candidates: list[str], seed: int, index: int, exclude: str | None) -> str:
    pool = sorted(c for c in set(candidates) if c != exclude)
    return pool[weighted_order(pool, [1.0] * len(pool), seed * 7919 + index)[0]]


def _composite_row(first: dict, second: dict, skill_names: list[str]) -> dict:
    text = COMPOSE_TEMPLATE.format(q1=first["prompt"].strip(), q2=second["prompt"].strip())
    parts = [{"prompt_id": r["prompt_id"], "verifier": r["verifier"], "answer": r["answer"],
              "question": r["prompt"], "metadata": json.loads(r["metadata"]) if r["metadata"] else {}}
             for r in (first, second)]
    metadata = {"origin": COMPOSED, "skills": skill_names, "parts": parts}
    return {"prompt_id": content_id("skill_pair", text), "source": COMPOSED,
            "task": f"{first['task']}+{second['task']}", "prompt": text,
            "answer": f"{first['answer'].strip()}; {second['answer'].strip()}", "verifier": COMPOSITE,
            "metadata": json.dumps(metadata, sort_keys=True), "split_guard": "train"}


def pair_links(prompts: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The skills of synthetic prompts' pairs (metadata origin in ORIGINS; origin 'synthesis' when
    no better one is known) and prompt_skills linking each such prompt to both, confidence 1."""
    rows, names = [], {}
    for pid, text in zip(prompts.column("prompt_id").to_pylist(), prompts.column("metadata").to_pylist()):
        meta = json.loads(text) if text else {}
        if isinstance(meta, dict) and meta.get("origin") in ORIGINS:
            names.update({skill_id(name): normalize_skill_name(name) for name in meta.get("skills", [])})
            rows += [(pid, skill_id(name), 1.0) for name in meta.get("skills", [])]
    found = skills_table(sorted(set(names.values())), origin="synthesis")
    return found, links_table(rows, "synthesis")
