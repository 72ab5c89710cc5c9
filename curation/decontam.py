"""Decontamination: drop training prompts that reproduce a held-out eval item.

A prompt matches eval item E when it is E (same tokens up to case and spacing), or when it
contains at least `min_coverage` of E's distinctive n-grams (13 tokens by default). N-grams that
many distinct items of one benchmark share are its template ("Find the Greatest Common Divisor
(GCD) of these numbers: ...") and do not count, so procedurally generated tasks are matched on
what differs between their items, not on boilerplate; items that differ from their siblings in
too little to own an n-gram can only match exactly.

Eval texts arrive in memory as {benchmark: [text, ...]}; flows/eval_sets.py loads the files.
"""

from typing import NamedTuple

import numpy as np
import pyarrow as pa
from pydantic import Field

from curation import text_stats
from curation.step import StepResult, keep_rows, require_columns
from schemas.config import StrictModel
from schemas.tables import step_schema

# Hits per benchmark per run, and every match (run_id is stamped by the lake).
HITS_SCHEMA = step_schema("decontam_hits")
MATCHES_SCHEMA = step_schema("decontam_matches")


class DecontamConfig(StrictModel):
    """N-gram decontamination against held-out eval sets."""

    n: int = Field(13, ge=1, le=64, description="tokens per n-gram (words and symbols)")
    sources: list[str] = Field(
        default_factory=lambda: ["bundled"],
        description="eval sets: 'bundled' (data/eval/*.jsonl), JSONL/Parquet files or folders")
    drop: bool = Field(True, description="drop contaminated prompts (false: only report the hits)")
    min_coverage: float = Field(0.8, gt=0.0, le=1.0,
                                description="share of an eval item's distinctive n-grams a prompt must contain "
                                            "to match it (Llama 2's 'dirty' cut; tiny = any shared n-gram)")
    template_share: float | None = Field(0.2, gt=0.0, le=1.0,
                                         description="n-grams in at least this share (and 2+) of a benchmark's "
                                                     "distinct items are template and ignored; null keeps all")


class EvalIndex(NamedTuple):
    """A benchmark's distinctive n-grams (sorted, with their item) and its items' whole-text hashes."""

    hashes: np.ndarray
    items: np.ndarray
    item_sizes: np.ndarray
    n_template: int
    exact: np.ndarray
    exact_items: np.ndarray


def decontaminate(prompts: pa.Table, cfg: DecontamConfig, *, eval_sets: dict[str, list[str]],
                  text_column: str = "prompt", id_column: str = "prompt_id",
                  table_name: str = "prompts") -> StepResult:
    """Match every prompt against every benchmark; drop the matched ones when cfg.drop. Side
    tables: decontam_hits (per benchmark) and decontam_matches (every prompt, eval item match)."""
    require_columns(prompts, [text_column, id_column], table_name)
    ids = prompts.column(id_column).to_pylist()
    texts = prompts.column(text_column)
    hashes, offsets = text_stats.ngram_hashes(texts, cfg.n)
    prompt_of, whole = text_stats.doc_ids(offsets), text_stats.sequence_hashes(texts)
    hit_rows, matches, best = [], [], {}  # best: prompt index -> its strongest match, exact first
    for benchmark in sorted(eval_sets):
        index = eval_ngram_index(eval_sets[benchmark], cfg)
        exact = exact_matches(whole, index)
        pairs = {(p, item) for p, item, _, _ in exact}
        found = exact + [m for m in ngram_matches(hashes, prompt_of, index, cfg.min_coverage)
                         if (m[0], m[1]) not in pairs]
        for p, item, kind, coverage in found:
            matches.append({"record_id": ids[p], "benchmark": benchmark, "eval_index": item,
                            "kind": kind, "coverage": coverage})
            best[p] = max(best.get(p, (False, 0.0, "", 0)), (kind == "exact", coverage, benchmark, item))
        hit_rows.append({"benchmark": benchmark, "n_eval_items": len(eval_sets[benchmark]),
                         "n_template_ngrams": index.n_template, "n_prompts_checked": prompts.num_rows,
                         "n_prompts_hit": len({m[0] for m in found}),
                         "n_exact": len({m[0] for m in found if m[2] == "exact"}),
                         "n_eval_items_hit": len({m[1] for m in found}), "dropped": cfg.drop})
    reasons = [_reason(best[p], cfg.n) if cfg.drop and p in best else None for p in range(prompts.num_rows)]
    return keep_rows(prompts, {"decontam": reasons}, id_column=id_column, table_name=table_name,
                     side={"decontam_hits": pa.Table.from_pylist(hit_rows, schema=HITS_SCHEMA),
                           "decontam_matches": pa.Table.from_pylist(matches, schema=MATCHES_SCHEMA)})


def eval_ngram_index(texts: list[str], cfg: DecontamConfig) -> EvalIndex:
    """Index one benchmark: distinctive (n-gram, item) pairs and whole-text hashes."""
    whole = text_stats.sequence_hashes(texts)
    _, first, canonical = np.unique(whole, return_index=True, return_inverse=True)
    hashes, offsets = text_stats.ngram_hashes(texts, cfg.n)
    hashes, items = _distinct_pairs(hashes, text_stats.doc_ids(offsets))
    n_template = 0
    if cfg.template_share is not None and first.size > 1:
        # document frequency over distinct item texts, so repeated items do not make a template
        df_hashes, _ = _distinct_pairs(hashes, canonical[items])
        unique, counts = text_stats.unique_counts(df_hashes)
        template = unique[counts >= max(2, cfg.template_share * first.size)]
        n_template = int(template.size)
        keep = ~text_stats.contains(template, hashes)
        hashes, items = hashes[keep], items[keep]
    order = np.argsort(hashes, kind="stable")
    exact_order = np.argsort(whole, kind="stable")
    return EvalIndex(hashes[order], items[order], np.bincount(items, minlength=len(texts)), n_template,
                     whole[exact_order], exact_order)


def exact_matches(whole: np.ndarray, index: EvalIndex) -> list[tuple]:
    """(prompt, item, "exact", 1.0) for prompts whose whole token sequence equals an item's."""
    slot = np.minimum(np.searchsorted(index.exact, whole), max(index.exact.size - 1, 0))
    if index.exact.size == 0:
        return []
    found = np.flatnonzero(index.exact[slot] == whole)
    return [(int(p), int(index.exact_items[slot[p]]), "exact", 1.0) for p in found]


def ngram_matches(hashes: np.ndarray, prompt_of: np.ndarray, index: EvalIndex,
                  min_coverage: float) -> list[tuple]:
    """(prompt, item, "ngram", coverage) for pairs whose coverage of the item >= min_coverage."""
    if hashes.size == 0 or index.hashes.size == 0:
        return []
    hashes, prompt_of = _distinct_pairs(hashes, prompt_of)
    lo = np.searchsorted(index.hashes, hashes, side="left")
    n_found = np.searchsorted(index.hashes, hashes, side="right") - lo
    if not n_found.any():
        return []
    first_slot = np.repeat(lo - (np.cumsum(n_found) - n_found), n_found)
    item = index.items[first_slot + np.arange(n_found.sum())]
    pair_keys, shared = text_stats.unique_counts((np.repeat(prompt_of, n_found) << 32) | item)
    prompt, item = pair_keys >> 32, pair_keys & 0xFFFFFFFF
    coverage = shared / index.item_sizes[item]
    hit = np.flatnonzero(coverage >= min_coverage)
    return [(int(prompt[k]), int(item[k]), "ngram", float(coverage[k])) for k in hit]


def _distinct_pairs(hashes: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each (hash, owner) pair once."""
    owners = owners.astype(np.int64)
    first = text_stats.first_of_each(hashes ^ text_stats.mix64(owners.astype(np.uint64), 5))
    return hashes[first], owners[first]


def _reason(match: tuple, n: int) -> str:
    exact, coverage, benchmark, item = match
    if exact:
        return f"identical to eval set '{benchmark}' item {item}"
    return (f"{n}-gram overlap with eval set '{benchmark}' item {item} "
            f"(covers {coverage:.0%} of its distinctive n-grams)")
