"""Exact and near-duplicate removal on any text column, keeping one representative per cluster.

Exact: a hash of the normalized text. Near: MinHash + LSH on token shingles (curation/minhash.py,
numpy; chosen over rensa and datasketch by benchmarks/dedup.py). Both return a StepResult: the
kept rows, a filter_log row per dropped row ("near-duplicate of <id> ..."), and side table
dedup_clusters with (record_id, cluster_id = the kept representative's id) for every member of
a cluster of 2+.

Responses are deduplicated within their prompt (`group_column="prompt_id"`), prompts globally:

    result = near_dedup(generations, NearDupConfig(), text_column="response", id_column="generation_id",
                        group_column="prompt_id", table_name="generations")
    result.side["dedup_clusters"]
"""

from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curation import minhash, text_stats
from curation.step import StepResult, keep_rows, require_columns
from schemas.config import StrictModel
from schemas.tables import TABLES, step_schema

CLUSTERS_SCHEMA = step_schema("dedup_clusters")
DEDUP_CLUSTERS_SPEC = TABLES["dedup_clusters"]

# Estimates this close to the threshold are re-checked exactly: 4 standard deviations of a
# 128-slot estimate at J = 0.8, so farther estimates are almost never on the wrong side.
EXACT_MARGIN = 0.15
SIGNATURE_CHUNK = 100_000  # texts shingled and sketched at once
Keep = Literal["first", "longest", "shortest"]
_KEEP_DESCRIPTION = "which cluster member survives: first in table order, longest or shortest text"


class ExactDedupConfig(StrictModel):
    """Exact duplicates after normalization (NFKC always; the rest below)."""

    lowercase: bool = Field(True, description="compare texts case-insensitively")
    collapse_whitespace: bool = Field(True, description="treat any whitespace run as one space, ignore ends")
    strip_punctuation: bool = Field(False, description="ignore punctuation and symbols")
    keep: Keep = Field("first", description=_KEEP_DESCRIPTION)


class NearDupConfig(StrictModel):
    """MinHash + LSH near-duplicates: token shingles, signature size, similarity threshold."""

    shingle_size: int = Field(5, ge=1, le=32, description="tokens per shingle (word/symbol n-grams)")
    num_perm: int = Field(128, ge=8, le=1024, description="MinHash signature length")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="Jaccard similarity that makes a near-duplicate")
    num_bands: int | None = Field(None, ge=1, le=1024,
                                  description="LSH bands (rows = num_perm // bands); null = chosen for threshold")
    verify: Literal["exact", "minhash", "none"] = Field(
        "exact", description="check LSH candidates: exact Jaccard near the threshold (estimate elsewhere), "
                             "the MinHash estimate only, or not at all")
    seed: int = Field(42, ge=0, description="seed of the MinHash hash functions")
    keep: Keep = Field("first", description=_KEEP_DESCRIPTION)

    @model_validator(mode="after")
    def _bands_fit(self):
        if self.num_bands is not None and self.num_bands > self.num_perm:
            raise ValueError(f"num_bands {self.num_bands} > num_perm {self.num_perm}")
        return self

    def bands(self) -> tuple[int, int]:
        """(bands, rows per band). Automatic: 95% LSH recall at the threshold when candidates are
        verified, else datasketch's balance of false positives and negatives."""
        if self.num_bands is not None:
            return self.num_bands, self.num_perm // self.num_bands
        if self.verify != "none":
            return minhash.recall_bands(self.threshold, self.num_perm)
        return minhash.optimal_bands(self.threshold, self.num_perm)


def exact_dedup(table: pa.Table, cfg: ExactDedupConfig, *, text_column: str = "prompt",
                id_column: str = "prompt_id", group_column: str | None = None,
                table_name: str = "prompts") -> StepResult:
    """Drop rows whose normalized text (within the same group, if given) appeared already."""
    require_columns(table, [text_column, id_column] + ([group_column] if group_column else []), table_name)
    texts = normalize(table.column(text_column), cfg)
    key = pl.Series(texts).hash(seed=1).to_numpy()
    if group_column:
        key = key ^ text_stats.mix64(_group_codes(table, group_column).astype(np.uint64), 3)
    active = pc.utf8_length(texts).to_numpy(zero_copy_only=False) > 0
    labels = np.arange(table.num_rows)
    _, first, inverse = np.unique(key[active], return_index=True, return_inverse=True)
    labels[active] = np.flatnonzero(active)[first][inverse]
    representative = _representatives(labels, _lengths(table, text_column), cfg.keep)
    return _result(table, representative, np.ones(table.num_rows), id_column, table_name, "exact_dedup",
                   lambda rep, s: f"exact duplicate of {rep} (normalized {text_column})")


def near_dedup(table: pa.Table, cfg: NearDupConfig, *, text_column: str = "prompt",
               id_column: str = "prompt_id", group_column: str | None = None,
               table_name: str = "prompts") -> StepResult:
    """Cluster rows whose shingle sets look >= threshold similar; keep one per cluster."""
    require_columns(table, [text_column, id_column] + ([group_column] if group_column else []), table_name)
    n = table.num_rows
    texts = text_stats.as_arrow(table.column(text_column))
    sig, n_shingles = _signatures(texts, cfg)
    groups = _group_codes(table, group_column) if group_column else None
    labels = _labels(sig, n_shingles, cfg, groups, lambda left, right: _rehashed_jaccard(texts, left, right, cfg))
    representative = _representatives(labels, _lengths(table, text_column), cfg.keep)
    similarity = minhash.estimated_jaccard(sig, np.arange(n), representative)
    return _result(table, representative, similarity, id_column, table_name, "near_dedup",
                   lambda rep, s: f"near-duplicate of {rep} (estimated jaccard {s:.2f}, "
                                  f"threshold {cfg.threshold})")


def near_duplicate_labels(hashes: np.ndarray, offsets: np.ndarray, cfg: NearDupConfig,
                          groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The core from flat shingle hashes: each text's cluster label (its smallest member index) and
    the MinHash signatures. Texts of different `groups` never cluster together."""
    sig = minhash.signatures(hashes, offsets, cfg.num_perm, cfg.seed)
    labels = _labels(sig, np.diff(offsets), cfg, groups,
                     lambda left, right: minhash.exact_jaccard(hashes, offsets, left, right))
    return labels, sig


def _labels(sig: np.ndarray, n_shingles: np.ndarray, cfg: NearDupConfig, groups, exact_jaccard) -> np.ndarray:
    """Cluster labels from signatures: LSH candidates, verified, joined into components.
    `exact_jaccard(left, right)` gives the true similarity of the pairs the estimate is unsure of."""
    bands, rows = cfg.bands()
    left, right = minhash.candidate_pairs(sig, bands, rows, groups, active=n_shingles > 0)
    if cfg.verify != "none":
        similar = _verified(sig, left, right, cfg, exact_jaccard)
        left, right = left[similar], right[similar]
    return minhash.connected_components(len(sig), left, right)


def _signatures(texts: pa.Array, cfg: NearDupConfig) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures and shingle counts, SIGNATURE_CHUNK texts at a time: only one chunk's
    shingle hashes are ever in memory (a signature depends on its own text only)."""
    sig = np.empty((len(texts), cfg.num_perm), np.uint32)
    n_shingles = np.empty(len(texts), np.int64)
    for start in range(0, len(texts), SIGNATURE_CHUNK):
        hashes, offsets = text_stats.ngram_hashes(texts.slice(start, SIGNATURE_CHUNK), cfg.shingle_size)
        stop = start + len(offsets) - 1
        sig[start:stop] = minhash.signatures(hashes, offsets, cfg.num_perm, cfg.seed)
        n_shingles[start:stop] = np.diff(offsets)
    return sig, n_shingles


def _rehashed_jaccard(texts: pa.Array, left: np.ndarray, right: np.ndarray, cfg: NearDupConfig) -> np.ndarray:
    """Exact Jaccard of pairs, hashing the shingles of just those texts again."""
    docs, position = np.unique(np.concatenate([left, right]), return_inverse=True)
    hashes, offsets = text_stats.ngram_hashes(texts.take(pa.array(docs, pa.int64())), cfg.shingle_size)
    return minhash.exact_jaccard(hashes, offsets, position[:left.size], position[left.size:])


def _verified(sig, left, right, cfg: NearDupConfig, exact_jaccard) -> np.ndarray:
    """Which candidate pairs are similar: by estimate, or exactly where the estimate is unsure."""
    estimate = minhash.estimated_jaccard(sig, left, right)
    similar = estimate >= cfg.threshold
    if cfg.verify == "exact":
        unsure = np.flatnonzero(np.abs(estimate - cfg.threshold) <= EXACT_MARGIN)
        similar[unsure] = exact_jaccard(left[unsure], right[unsure]) >= cfg.threshold
    return similar


def normalize(texts, cfg: ExactDedupConfig) -> pa.Array:
    """The text exact dedup compares: NFKC, then the config's case/whitespace/punctuation rules."""
    arr = text_stats.nfkc(text_stats.as_arrow(texts))
    if cfg.lowercase:
        arr = pc.utf8_lower(arr)
    if cfg.strip_punctuation:
        arr = pc.replace_substring_regex(arr, r"[^\pL\pN\s]+", "")
    if cfg.collapse_whitespace:
        arr = pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"\s+", " "))
    return arr


def _result(table, representative, similarity, id_column, table_name, step, reason) -> StepResult:
    """Kept rows, drop log and side table dedup_clusters from each row's representative index."""
    ids = np.asarray(table.column(id_column).to_pylist(), dtype=object)
    reasons = [None if rep == i else reason(ids[rep], similarity[i]) for i, rep in enumerate(representative)]
    sizes = np.bincount(representative, minlength=table.num_rows)
    members = np.flatnonzero(sizes[representative] > 1)
    clusters = pa.table([pa.array(ids[members].tolist(), pa.string()), [table_name] * members.size,
                         [step] * members.size, pa.array(ids[representative[members]].tolist(), pa.string()),
                         pa.array(similarity[members], pa.float64())], schema=CLUSTERS_SCHEMA)
    return keep_rows(table, {step: reasons}, id_column=id_column, table_name=table_name,
                     side={"dedup_clusters": clusters})


def _representatives(labels: np.ndarray, lengths: np.ndarray, keep: Keep) -> np.ndarray:
    """For every row, the index of its cluster's kept row (ties: first in table order)."""
    index = np.arange(labels.size)
    if keep == "first":
        return labels  # component labels are the smallest member index already
    priority = -lengths if keep == "longest" else lengths
    order = np.lexsort((index, priority, labels))
    sorted_labels = labels[order]
    is_first = np.r_[True, sorted_labels[1:] != sorted_labels[:-1]]
    winner = np.empty(labels.size, np.int64)
    winner[sorted_labels[is_first]] = order[is_first]
    return winner[labels]


def _lengths(table: pa.Table, text_column: str) -> np.ndarray:
    arr = text_stats.as_arrow(table.column(text_column))
    return pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)


def _group_codes(table: pa.Table, column: str) -> np.ndarray:
    """Small integer codes of a group column (nulls form one group)."""
    values = table.column(column).combine_chunks()
    encoded = pc.dictionary_encode(pc.cast(values, pa.string()) if not pa.types.is_string(values.type) else values)
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
