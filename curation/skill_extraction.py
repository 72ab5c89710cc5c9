"""Skill extraction (Instruct-SkillMix stage 1; STAT's teacher skill list and labels): the model
names the skills each prompt needs, MiniLM merges near-duplicate names, the most frequently named
skills form the inventory, and each prompt is tagged with the skills it was given.

The model's replies are free text, and a small model's are noisy: items are split, cleaned of
numbering, markdown, filler ("understanding of ...") and explanations, kept only when they look
like a short skill name, and a skill enters the inventory only when several prompts name it.
Replies depend only on the prompt, the model and `settings_id`, so flows can cache them.
"""

import re
from collections import Counter

import pyarrow as pa
from pydantic import Field

from curation.backends.base import GenerationBackend, Sampling
from curation.embeddings import TextEmbedder
from curation.skills import (SKILLS_SCHEMA, links_table, merge_near_duplicates, normalize_skill_name, skill_id,
                             skills_table)
from schemas.config import StrictModel
from schemas.ids import content_id

SYSTEM = "You name the skills a problem needs. Do not solve the problem."
TEMPLATE = ("Problem:\n{prompt}\n\nWhich skills does a student need for this problem? Reply with a "
            "comma-separated list of short skill names.")
PREFIX = "The skills needed are:"  # the reply starts here, so even a small model writes a list
ORIGIN = "model"


class SkillExtractionConfig(StrictModel):
    """How the model is asked for skills, and which of its names become the inventory."""

    votes: int = Field(2, ge=1, le=16, description="replies per prompt; a tag's confidence = share naming it")
    temperature: float = Field(0.7, ge=0.0, description="sampling temperature of the replies")
    max_tokens: int = Field(32, ge=4, le=256, description="most tokens of one reply (cost: keep it short)")
    prompt_chars: int = Field(1500, ge=100, description="prompt text shown to the model is cut to this")
    seed: int = Field(0, ge=0)
    per_prompt: int = Field(3, ge=1, le=10, description="most skills read from one reply and tagged on a prompt")
    min_support: int = Field(2, ge=1, description="a skill needs this many prompts naming it")
    max_skills: int = Field(24, ge=1, description="keep the most often named skills, at most this many")
    merge_threshold: float = Field(0.85, ge=0.0, le=1.0,
                                   description="MiniLM cosine at which two proposed names are one skill")


def settings_id(cfg: SkillExtractionConfig) -> str:
    """Id of everything that shapes a reply besides the prompt and the model (a cache key)."""
    shaping = cfg.model_dump(include={"votes", "temperature", "max_tokens", "prompt_chars", "seed"})
    return content_id("skill-extraction", shaping, SYSTEM, TEMPLATE, PREFIX)


def ask_for_skills(backend: GenerationBackend, prompts: list[str], cfg: SkillExtractionConfig,
                   progress=None) -> list[list[str]]:
    """The model's reply texts per prompt (`votes` each), in one batched call."""
    if not prompts:
        return []
    chats = [[{"role": "system", "content": SYSTEM},
              {"role": "user", "content": TEMPLATE.format(prompt=p[: cfg.prompt_chars])}] for p in prompts]
    sampling = Sampling(k=cfg.votes, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    replies = backend.generate(chats, cfg.votes, sampling, prefixes=[PREFIX] * len(chats), progress=progress)
    return [[c.text for c in completions] for completions in replies]


_SPLIT = re.compile(r"[,;\n]|\band\b|\s/\s")
_NUMBERING = re.compile(r"^\s*(?:[-*\u2022]+|\(?\d+[.)]|\(?[a-h][.)](?=\s))\s*")
_EXPLANATION = re.compile(r"\s*(?::|\(|\s[-\u2013\u2014]\s|\bsuch as\b|\bwhich\b|\bto (?:find|solve)\b).*$")
_FILLER = re.compile(r"^(?:(?:an?|the|basic|some|good)\s+)*(?:(?:understanding|knowledge|concept|ability|"
                     r"use|application|proficiency|familiarity|skills?)(?:\s+(?:of|to|in|with|for))?\s+)?"
                     r"(?:(?:the|a|an)\s+)?(?:concept\s+of\s+)?")
_SMALL_WORDS = {"the", "a", "an", "of", "to", "in", "on", "for", "with", "and", "or", "is", "are", "it", "this",
                "that", "how", "what", "answer", "question", "none", "yes", "no"}
_PROBLEM_WORDS = {"problem", "problems", "question", "questions", "puzzle", "task", "exercise"}
_TRAILING = re.compile(r"(?:^|\s+)(?:skills?|abilit(?:y|ies))$")  # "math skills" is the skill "math"


def parse_skill_names(text: str, most: int) -> list[str]:
    """Up to `most` distinct skill names from one reply, in order; items that do not look like a
    short skill name (sentences, numbers, equations) are skipped."""
    names: list[str] = []
    for item in _SPLIT.split(text.replace("**", "").replace("__", "").replace("`", "")):
        item = _NUMBERING.sub("", item.strip())
        if item[:1] in "\"'\u201c":  # a quoted word is a piece of the problem, not a skill
            continue
        item = _EXPLANATION.sub("", item)
        name = _TRAILING.sub("", normalize_skill_name(_FILLER.sub("", item.strip().lower())))
        if _looks_like_skill(name) and name not in names:
            names.append(name)
        if len(names) == most:
            break
    return names


def _looks_like_skill(name: str) -> bool:
    """One to four words of letters, 3 to 40 characters, not only small words, and not the name
    of a kind of problem ("math problem")."""
    words = name.split()
    return (1 <= len(words) <= 4 and 3 <= len(name) <= 40 and all(re.fullmatch(r"[a-z][a-z']*", w) for w in words)
            and not set(words) <= _SMALL_WORDS and words[-1] not in _PROBLEM_WORDS)


def extracted_inventory(prompt_ids: list[str], replies: list[list[str]], cfg: SkillExtractionConfig,
                        embedder: TextEmbedder) -> tuple[pa.Table, pa.Table]:
    """The skills table (origin 'model') and prompt_skills links (confidence = share of a prompt's
    replies naming the skill) from the replies: names merged by embedding, then kept when at
    least `min_support` prompts name them, the `max_skills` most named."""
    named = [[parse_skill_names(text, cfg.per_prompt) for text in texts] for texts in replies]
    all_names = sorted({n for votes in named for names in votes for n in names})
    if not all_names:
        return SKILLS_SCHEMA.empty_table(), links_table([], ORIGIN)
    merged, alias = merge_near_duplicates(skills_table(all_names, origin=ORIGIN), embedder, cfg.merge_threshold)
    votes_per_prompt = [_votes(votes, alias) for votes in named]
    support = Counter(sid for votes in votes_per_prompt for sid in votes)
    name = dict(zip(merged.column("skill_id").to_pylist(), merged.column("name").to_pylist()))
    ranked = sorted((s for s, n in support.items() if n >= cfg.min_support), key=lambda s: (-support[s], name[s]))
    kept = set(ranked[: cfg.max_skills])
    rows = []
    for pid, votes, texts in zip(prompt_ids, votes_per_prompt, replies):
        best = sorted((s for s in votes if s in kept), key=lambda s: (-votes[s], name[s]))[: cfg.per_prompt]
        rows += [(pid, sid, votes[sid] / len(texts)) for sid in best]
    skills = merged.filter(pa.array([sid in kept for sid in merged.column("skill_id").to_pylist()]))
    n_prompts = len(prompt_ids)
    descriptions = [f"named by the model for {support[sid]} of {n_prompts} prompts"
                    for sid in skills.column("skill_id").to_pylist()]
    skills = skills.set_column(skills.column_names.index("description"), "description", pa.array(descriptions, pa.string()))
    return skills, links_table(rows, ORIGIN)


def _votes(votes: list[list[str]], alias: dict[str, str]) -> Counter:
    """How many of a prompt's replies name each (merged) skill; one count per reply."""
    counts: Counter = Counter()
    for names in votes:
        counts.update({alias.get(skill_id(n), skill_id(n)) for n in names})
    return counts
