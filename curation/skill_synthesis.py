"""Skill-pair synthesis (Instruct-SkillMix, STAT-Syn): new prompts that need two sampled skills.

Two ways: "compose" joins two verifiable prompts of different skills into one ("answer both")
whose gold answer is "X; Y", checked part by part by the "composite" verifier; "model" asks the
backend to write a new problem needing both skills (no gold answer, so never RL). Pairs favour
missing skills when a Missing-Skill-Profile is given. Synthetic prompts then go through the same
generate -> verify -> rank stages (curation/verifiers.py checks composites part by part);
`split_verifiable` keeps uncheckable ones out of RL.
"""

import json
import re
from itertools import combinations
from typing import Literal

import pyarrow as pa
from pydantic import Field

from curation.backends.base import GenerationBackend, Sampling
from curation.mixing import weighted_order
from curation.step import StepResult, keep_rows
from curation.verifiers import COMPOSITE
from schemas.config import StrictModel
from schemas.ids import content_id

COMPOSE_TEMPLATE = ("Answer both questions.\n\n(1) {q1}\n\n(2) {q2}\n\nGive both final answers on the last "
                    "line as 'Answer: <answer to (1)>; <answer to (2)>'.")
SKILLMIX_TEMPLATE = ("Write one new, self-contained problem that needs both of these skills:\n"
                     "- {a}: {da}\n- {b}: {db}\nDo not solve it. Reply with the problem only, after 'Problem:'.")
PROMPT_COLUMNS = ["prompt_id", "source", "task", "prompt", "answer", "verifier", "metadata", "split_guard"]


class SkillSynthesisConfig(StrictModel):
    """How many skill-pair prompts to make, and how."""

    n_prompts: int = Field(32, ge=0, description="synthetic prompts to make")
    mode: Literal["compose", "model"] = Field("compose",
                                              description="compose verifiable prompts, or ask the model")
    missing_boost: float = Field(4.0, ge=0.0, description="extra pair weight per missing skill in the pair")
    max_part_chars: int = Field(1200, ge=50, description="skip source prompts longer than this")
    temperature: float = Field(0.8, ge=0.0, description="model mode: sampling temperature")
    max_tokens: int = Field(200, ge=16, description="model mode: most tokens of a new problem")
    seed: int = Field(0, ge=0)


def sample_skill_pairs(skill_ids: list[str], n: int, seed: int, *, missing: dict[str, float] | None = None,
                       missing_boost: float = 4.0, allowed=None) -> list[tuple[str, str]]:
    """n distinct unordered skill pairs, weight (1 + boost*deficit_a) * (1 + boost*deficit_b)."""
    missing = missing or {}
    pairs = [p for p in combinations(sorted(set(skill_ids)), 2) if allowed is None or allowed(p)]
    boost = {s: 1 + missing_boost * missing.get(s, 0.0) for s in set(skill_ids)}
    weights = [boost[a] * boost[b] for a, b in pairs]
    order = weighted_order([f"{a}|{b}" for a, b in pairs], weights, seed)
    return [pairs[i] for i in order[:n]]


def _eligible(row: dict, cfg: SkillSynthesisConfig) -> bool:
    """A part needs a gold answer that survives joining with ';' and a plain verifier."""
    answer = row["answer"]
    return (answer is not None and row["verifier"] not in (None, COMPOSITE) and ";" not in answer
            and "\n" not in answer.strip() and len(row["prompt"]) <= cfg.max_part_chars)


def compose_prompts(prompts: pa.Table, prompt_skills: pa.Table, skills: pa.Table, cfg: SkillSynthesisConfig,
                    *, profile: pa.Table | None = None) -> pa.Table:
    """Verifiable skill-pair prompts: one prompt per skill of a sampled pair, asked together."""
    rows = {r["prompt_id"]: r for r in prompts.select(PROMPT_COLUMNS).to_pylist() if _eligible(r, cfg)}
    by_skill: dict[str, list[str]] = {}
    links = zip(prompt_skills.column("prompt_id").to_pylist(), prompt_skills.column("skill_id").to_pylist())
    for pid, sid in links:
        if pid in rows:
            by_skill.setdefault(sid, []).append(pid)
    names = dict(zip(skills.column("skill_id").to_pylist(), skills.column("name").to_pylist()))
    usable = [s for s in names if s in by_skill]
    # a pair needs two different prompts
    pairs = sample_skill_pairs(usable, cfg.n_prompts, cfg.seed, missing=_deficits(profile),
                               missing_boost=cfg.missing_boost,
                               allowed=lambda p: len(set(by_skill[p[0]]) | set(by_skill[p[1]])) >= 2)
    out = []
    for index, (a, b) in enumerate(pairs):
        only_b = set(by_skill[b])
        first = _pick(by_skill[a], cfg.seed, index, exclude=only_b.pop() if len(only_b) == 1 else None)
        second = _pick(by_skill[b], cfg.seed, index, exclude=first)
        out.append(_composite_row(rows[first], rows[second], [names[a], names[b]]))
    return pa.Table.from_pylist(out, schema=_prompt_schema())


def _pick(candidates: list[str], seed: int, index: int, exclude: str | None) -> str:
    pool = sorted(c for c in set(candidates) if c != exclude)
    return pool[weighted_order(pool, [1.0] * len(pool), seed * 7919 + index)[0]]


def _composite_row(first: dict, second: dict, skill_names: list[str]) -> dict:
    text = COMPOSE_TEMPLATE.format(q1=first["prompt"].strip(), q2=second["prompt"].strip())
    parts = [{"prompt_id": r["prompt_id"], "verifier": r["verifier"], "answer": r["answer"],
              "question": r["prompt"], "metadata": json.loads(r["metadata"]) if r["metadata"] else {}}
             for r in (first, second)]
    metadata = {"origin": "skill_pair_compose", "skills": skill_names, "parts": parts}
    return {"prompt_id": content_id("skill_pair", text), "source": "skill_pair",
            "task": f"{first['task']}+{second['task']}", "prompt": text,
            "answer": f"{first['answer'].strip()}; {second['answer'].strip()}", "verifier": COMPOSITE,
            "metadata": json.dumps(metadata, sort_keys=True), "split_guard": "train"}


def _deficits(profile: pa.Table | None) -> dict[str, float]:
    if profile is None:
        return {}
    return {r["skill_id"]: r["deficit"] for r in profile.to_pylist() if r["missing"]}


def _prompt_schema() -> pa.Schema:
    return pa.schema([(c, pa.string()) for c in PROMPT_COLUMNS])


def synthesize_with_model(backend: GenerationBackend, skills: pa.Table, cfg: SkillSynthesisConfig, *,
                          profile: pa.Table | None = None) -> pa.Table:
    """Instruct-SkillMix: the model writes a problem per sampled skill pair. No gold answer:
    these prompts feed SFT/judged preference data only, never RL."""
    info = {r["skill_id"]: r for r in skills.to_pylist()}
    pairs = sample_skill_pairs(list(info), cfg.n_prompts, cfg.seed, missing=_deficits(profile),
                               missing_boost=cfg.missing_boost)
    chats = [[{"role": "user", "content": SKILLMIX_TEMPLATE.format(
        a=info[a]["name"], da=info[a]["description"] or info[a]["name"],
        b=info[b]["name"], db=info[b]["description"] or info[b]["name"])}] for a, b in pairs]
    sampling = Sampling(k=1, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    replies = backend.generate(chats, 1, sampling) if chats else []
    out = []
    for (a, b), completions in zip(pairs, replies):
        text = parse_problem(completions[0].text)
        if text is None:
            continue
        metadata = {"origin": "skill_pair_model", "skills": [info[a]["name"], info[b]["name"]]}
        out.append({"prompt_id": content_id("skill_pair", text), "source": "skill_pair", "task": "skill_pair",
                    "prompt": text, "answer": None, "verifier": None,
                    "metadata": json.dumps(metadata, sort_keys=True), "split_guard": "train"})
    return pa.Table.from_pylist(out, schema=_prompt_schema())


def parse_problem(reply: str) -> str | None:
    """The problem text after 'Problem:' (else the whole reply), cut before any 'Solution:';
    None when too short to be a problem."""
    match = list(re.finditer(r"problem\s*:", reply, flags=re.IGNORECASE))
    text = reply[match[-1].end():] if match else reply
    text = re.split(r"\n\s*(?:\*\*)?(?:solution|answer)\b", text, flags=re.IGNORECASE)[0].strip(" \n*")
    return text if len(text) >= 20 else None


def split_verifiable(prompts: pa.Table) -> StepResult:
    """Keep prompts with a verifier and a gold answer (only those may enter RL or the verify
    stage); log the rest."""
    reasons = [None if v is not None and a is not None else "no checkable answer: not for RL"
               for v, a in zip(prompts.column("verifier").to_pylist(), prompts.column("answer").to_pylist())]
    return keep_rows(prompts, {"skill_synthesis": reasons}, id_column="prompt_id", table_name="prompts")
