"""Tag prompts with an existing inventory: ask the model to choose among it (parsed robustly), or
take the nearest skills by embedding. New skill names come from curation/skill_extraction.py.
"""

import difflib
import re
from collections import Counter

import numpy as np
import pyarrow as pa
from pydantic import Field

from curation.backends.base import GenerationBackend, Sampling
from curation.embeddings import TextEmbedder, cosine_matrix
from curation.skills import links_table, normalize_skill_name, skill_texts
from schemas.config import StrictModel

SYSTEM = "You label reasoning problems with the skills needed to solve them. Reply briefly."
TAG_TEMPLATE = ("Skills:\n{menu}\n\nProblem:\n{prompt}\n\nWhich of the skills above does the problem "
                "need? Reply with at most {most} skill numbers, comma-separated, like: Skills: 1, 3")
EMBED_CHUNK = 8192  # prompts embedded at once by tag_by_embedding


class TaggingConfig(StrictModel):
    """Model tagging and embedding tagging of prompts."""

    max_skills: int = Field(3, ge=1, le=20, description="most skills one prompt gets")
    votes: int = Field(3, ge=1, le=32, description="model samples per prompt; confidence = share naming a skill")
    min_confidence: float = Field(0.34, ge=0.0, le=1.0, description="drop model tags named by fewer votes")
    temperature: float = Field(0.7, ge=0.0, description="sampling temperature of tagging replies")
    max_tokens: int = Field(48, ge=4, description="most tokens of a tagging reply")
    fuzzy_cutoff: float = Field(0.85, ge=0.0, le=1.0, description="difflib ratio to accept a misspelt name")
    embed_threshold: float = Field(0.6, ge=-1.0, le=1.0,
                                   description="cosine to map a free-text reply or a prompt to a skill")
    prompt_chars: int = Field(1500, ge=100, description="prompt text shown to the model is cut to this")
    seed: int = Field(0, ge=0)


def _reply_items(text: str) -> list[str]:
    """The list items of a reply: the text after the last 'Skills:' (else all), split on , ; / newlines / and."""
    marks = list(re.finditer(r"skills?\s*[:\-]", text, flags=re.IGNORECASE))
    body = text[marks[-1].end():] if marks else text
    items = re.split(r"[,;\n/]|\band\b", body)
    bullet = re.compile(r"^\s*(?:[-*\u2022]|\(?[a-z]\)|#)\s*", flags=re.IGNORECASE)
    cleaned = [bullet.sub("", item).strip() for item in items]
    return [c for c in cleaned if c]


def parse_skill_reply(text: str, names: list[str], *, max_skills: int, fuzzy_cutoff: float = 0.85,
                      embedder: TextEmbedder | None = None, embed_threshold: float = 0.6) -> list[int]:
    """Inventory indices named in a free-text reply, in order, unique, at most max_skills.

    Accepts numbers ("2", "2. gcd", "#2"), exact or contained names, near spellings, and with an
    embedder the nearest name above the threshold; anything else is ignored.
    """
    norms = [normalize_skill_name(n) for n in names]
    by_length = sorted(range(len(norms)), key=lambda i: -len(norms[i]))
    found: list[int] = []
    leftovers: list[str] = []
    for item in _reply_items(text):
        number = re.match(r"^(\d+)\b", item)
        norm = normalize_skill_name(item)
        hit = None
        if number and 1 <= int(number.group(1)) <= len(names):
            hit = int(number.group(1)) - 1
        elif norm in norms:
            hit = norms.index(norm)
        else:
            hit = next((i for i in by_length if norms[i] and re.search(rf"\b{re.escape(norms[i])}\b", norm)), None)
            if hit is None:
                close = difflib.get_close_matches(norm, norms, n=1, cutoff=fuzzy_cutoff)
                hit = norms.index(close[0]) if close else None
        if hit is None and norm and not number:
            leftovers.append(norm)
        if hit is not None and hit not in found:
            found.append(hit)
    if embedder is not None and leftovers and len(found) < max_skills:
        sims = cosine_matrix(embedder.encode(leftovers), embedder.encode(norms))
        for row in sims:
            best = int(np.argmax(row))
            if row[best] >= embed_threshold and best not in found:
                found.append(best)
    return found[:max_skills]


def _conversations(prompts: pa.Table, template: str, cfg: TaggingConfig, **fields) -> list[list[dict]]:
    def user(text: str) -> str:
        return template.format(prompt=text[: cfg.prompt_chars], most=cfg.max_skills, **fields)

    return [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": user(p)}]
            for p in prompts.column("prompt").to_pylist()]


def tag_with_model(backend: GenerationBackend, prompts: pa.Table, skills: pa.Table, cfg: TaggingConfig, *,
                   embedder: TextEmbedder | None = None, progress=None) -> pa.Table:
    """prompt_skills from the model choosing among the inventory; confidence = share of votes."""
    names = skills.column("name").to_pylist()
    ids = skills.column("skill_id").to_pylist()
    menu = "\n".join(f"{i + 1}. {n}" for i, n in enumerate(names))
    sampling = Sampling(k=cfg.votes, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    replies = backend.generate(_conversations(prompts, TAG_TEMPLATE, cfg, menu=menu), cfg.votes, sampling,
                               progress=progress)
    rows = []
    for pid, completions in zip(prompts.column("prompt_id").to_pylist(), replies):
        votes = Counter()
        for c in completions:
            votes.update(parse_skill_reply(c.text, names, max_skills=cfg.max_skills, fuzzy_cutoff=cfg.fuzzy_cutoff,
                                           embedder=embedder, embed_threshold=cfg.embed_threshold))
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.max_skills]
        shares = [(i, n / len(completions)) for i, n in ranked]
        rows += [(pid, ids[i], share) for i, share in shares if share >= cfg.min_confidence]
    return links_table(rows, "model")


def tag_by_embedding(prompts: pa.Table, skills: pa.Table, embedder: TextEmbedder, cfg: TaggingConfig) -> pa.Table:
    """prompt_skills by nearest skills (name: description) to the prompt text; confidence = cosine.
    Prompts are embedded in chunks, so memory does not grow with their number."""
    skill_vectors = embedder.encode(skill_texts(skills))
    ids = skills.column("skill_id").to_pylist()
    rows = []
    for start in range(0, prompts.num_rows, EMBED_CHUNK):
        chunk = prompts.slice(start, EMBED_CHUNK)
        texts = [p[: cfg.prompt_chars] for p in chunk.column("prompt").to_pylist()]
        sims = cosine_matrix(embedder.encode(texts), skill_vectors)
        for pid, row in zip(chunk.column("prompt_id").to_pylist(), sims):
            for j in np.argsort(-row, kind="stable")[: cfg.max_skills]:
                if row[j] >= cfg.embed_threshold:
                    rows.append((pid, ids[j], float(row[j])))
    return links_table(rows, "embedding")

