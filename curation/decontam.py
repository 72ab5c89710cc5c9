"""Decontamination: drop training prompts that reproduce a held-out eval item.

A prompt matches eval item E when it is E (same tokens up to case and spacing), when it
contains at least `min_coverage` of E's distinctive n-grams (8 tokens by default), or, for an
item shorter than n (but of `contained_min_tokens` or more), when it contains E's tokens in order.
N-grams that many distinct items of one benchmark share are its template ("Find the Greatest
Common Divisor (GCD) of these numbers: ...") and do not count, so procedurally generated tasks
are matched on what differs between their items, not on boilerplate. Options widen the match:
ignoring sentence punctuation (re-wrapped copies), masking numbers (copies with changed
numbers), and MiniLM similarity for named benchmarks (paraphrases; curation/decontam_paraphrase.py).
benchmarks/decontam_recall.py measures each rule's recall and false positives (docs/decontam.md).

Eval texts arrive in memory as {benchmark: [text, ...]}; flows/eval_sets.py loads the files.
"""

import numpy as np
import pyarrow as pa
from pydantic import Field

from curation import decontam_index as ix
from curation import decontam_paraphrase, text_stats
from curation.step import StepResult, keep_rows, require_columns
from schemas.config import StrictModel
from schemas.tables import step_schema

# Hits per benchmark per run, and every match (run_id is stamped by the lake).
HITS_SCHEMA = step_schema("decontam_hits")
MATCHES_SCHEMA = step_schema("decontam_matches")
# Prompts are matched in chunks of this many: memory stays flat however many prompts there are.
CHUNK_PROMPTS = 100_000
# Strongest kind first: the reason a dropped prompt gets names its strongest match.
KINDS = ("exact", "contained", "ngram", "masked_ngram", "embedding")


class DecontamConfig(StrictModel):
    """N-gram decontamination against held-out eval sets."""

    n: int = Field(8, ge=1, le=64, description="tokens per n-gram (words and symbols)")
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
    ignore_punctuation: bool = Field(
        True, description="match with list markers, commas and colons removed, one kind of quote, ? ! ; read as "
                          "'.', one '.' at the end and [ ] { } as ( ): re-punctuated and re-numbered copies match")
    contained_min_tokens: int | None = Field(
        5, ge=1, description="an item shorter than n but at least this many tokens matches a prompt containing "
                             "all its tokens in order; null: such items match only as a whole text")
    mask_numbers: bool = Field(
        False, description="also match with every number masked, so copies whose numbers changed match; "
                           "templated tasks stay unmatched this way (other numbers make another item)")
    paraphrase: decontam_paraphrase.ParaphraseConfig | None = Field(
        None, description="MiniLM similarity for the named benchmarks (catches paraphrases; off: null)")


def decontaminate(prompts: pa.Table, cfg: DecontamConfig, *, eval_sets: dict[str, list[str]],
                  text_column: str = "prompt", id_column: str = "prompt_id", table_name: str = "prompts",
                  embedder=None) -> StepResult:
    """Match every prompt against every benchmark; drop the matched ones when cfg.drop. Side
    tables: decontam_hits (per benchmark) and decontam_matches (every prompt, eval item match).
    `embedder` (curation/embeddings.py) is needed only with cfg.paraphrase."""
    require_columns(prompts, [text_column, id_column], table_name)
    index = ix.build_index(eval_sets, cfg.n, cfg.template_share, punctuation=cfg.ignore_punctuation,
                           numbers=False, contained_min_tokens=cfg.contained_min_tokens)
    masked = (ix.build_index(eval_sets, cfg.n, cfg.template_share, punctuation=cfg.ignore_punctuation,
                             numbers=True, contained_min_tokens=None) if cfg.mask_numbers else None)
    texts = prompts.column(text_column)
    parts = [_shifted(_chunk_matches(texts.slice(start, CHUNK_PROMPTS), index, masked, cfg), start)
             for start in range(0, prompts.num_rows, CHUNK_PROMPTS)]
    if cfg.paraphrase is not None:
        found = decontam_paraphrase.paraphrase_matches(texts.to_pylist(), eval_sets, index.offsets,
                                                       cfg.paraphrase, embedder)
        parts.append(_kind(found, "embedding"))
    prompt, item, kind, coverage = _strongest_per_pair(parts)
    names = sorted(eval_sets)
    starts = np.array([index.offsets[name] for name in names], np.int64)
    benchmark = np.searchsorted(starts, item, side="right") - 1
    ids = prompts.column(id_column).combine_chunks().cast(pa.string())
    matches = pa.table([ids.take(prompt), pa.array(np.asarray(names, dtype=object)[benchmark].tolist(), pa.string()),
                        pa.array(item - starts[benchmark]), pa.array(np.asarray(KINDS, dtype=object)[kind].tolist(),
                                                                     pa.string()), pa.array(coverage)],
                       schema=MATCHES_SCHEMA)
    hits = _hits(names, eval_sets, index, prompts.num_rows, prompt, benchmark, item, kind, cfg.drop)
    reasons = [None] * prompts.num_rows
    for k in _first_per_prompt(prompt) if cfg.drop else ():
        reasons[prompt[k]] = _reason(KINDS[kind[k]], names[benchmark[k]], int(item[k] - starts[benchmark[k]]),
                                     float(coverage[k]), cfg.n)
    return keep_rows(prompts, {"decontam": reasons}, id_column=id_column, table_name=table_name,
                     side={"decontam_hits": hits, "decontam_matches": matches})


def _chunk_matches(texts, index: ix.EvalIndex, masked: ix.EvalIndex | None, cfg: DecontamConfig) -> list:
    """Every rule's (prompt, item, kind, coverage) arrays for one chunk of prompts."""
    grams = ix.prompt_grams(texts, cfg.n, index.short_lengths, punctuation=cfg.ignore_punctuation, numbers=False)
    exact_prompts, exact_items = ix.exact_matches(grams.whole, index)
    parts = [_kind((exact_prompts, exact_items, np.ones(exact_prompts.size)), "exact"),
             _kind(ix.ngram_matches(grams.hashes, grams.prompt_of, index, cfg.min_coverage), "ngram")]
    parts += [_kind(ix.ngram_matches(hashes, prompt_of, index, 1.0), "contained")
              for hashes, prompt_of in grams.short.values()]
    if masked is not None:
        grams = ix.prompt_grams(texts, cfg.n, masked.short_lengths, punctuation=cfg.ignore_punctuation,
                                numbers=True)
        parts.append(_kind(ix.ngram_matches(grams.hashes, grams.prompt_of, masked, cfg.min_coverage),
                           "masked_ngram"))
    return parts


def _kind(found: tuple, kind: str) -> tuple:
    prompt, item, coverage = found
    return prompt.astype(np.int64), item.astype(np.int64), np.full(prompt.size, KINDS.index(kind)), coverage


def _shifted(parts: list, start: int) -> tuple:
    """A chunk's matches as one tuple of arrays, prompt numbers made global."""
    prompt, item, kind, coverage = (np.concatenate([p[k] for p in parts]) for k in range(4))
    return prompt + start, item, kind, coverage


def _strongest_per_pair(parts: list) -> tuple:
    """One match per (prompt, item): the strongest kind, then the highest coverage; sorted by
    prompt, and within a prompt strongest first."""
    if not parts:
        return tuple(np.zeros(0, dtype) for dtype in (np.int64, np.int64, np.int64, np.float64))
    prompt, item, kind, coverage = (np.concatenate([p[k] for p in parts]) for k in range(4))
    order = np.lexsort((item, -coverage, kind, prompt))
    prompt, item, kind, coverage = prompt[order], item[order], kind[order], coverage[order]
    pair = (prompt << 32) | item
    first = text_stats.first_of_each(pair)
    order = np.sort(first)  # keeps the prompt, kind, coverage order
    return prompt[order], item[order], kind[order], coverage[order]


def _first_per_prompt(prompt: np.ndarray) -> np.ndarray:
    """Row of each prompt's first (strongest) match, in a prompt-sorted match list."""
    return np.flatnonzero(np.r_[True, prompt[1:] != prompt[:-1]]) if prompt.size else prompt


def _hits(names, eval_sets, index, n_checked, prompt, benchmark, item, kind, dropped) -> pa.Table:
    """One row per benchmark: its size, template n-grams, and how many prompts and items it hit."""
    rows = []
    for b, name in enumerate(names):
        mine = benchmark == b
        rows.append({"benchmark": name, "n_eval_items": len(eval_sets[name]),
                     "n_template_ngrams": index.n_template[name], "n_prompts_checked": n_checked,
                     "n_prompts_hit": int(np.unique(prompt[mine]).size),
                     "n_exact": int(np.unique(prompt[mine & (kind == 0)]).size),
                     "n_eval_items_hit": int(np.unique(item[mine]).size), "dropped": dropped})
    return pa.Table.from_pylist(rows, schema=HITS_SCHEMA)


def _reason(kind: str, benchmark: str, item: int, coverage: float, n: int) -> str:
    where = f"eval set '{benchmark}' item {item}"
    if kind == "exact":
        return f"identical to {where}"
    if kind == "contained":
        return f"contains {where} (all its tokens, in order)"
    if kind == "embedding":
        return f"paraphrase of {where} (MiniLM cosine {coverage:.2f})"
    masked = " with numbers masked" if kind == "masked_ngram" else ""
    return f"{n}-gram overlap{masked} with {where} (covers {coverage:.0%} of its distinctive n-grams)"
