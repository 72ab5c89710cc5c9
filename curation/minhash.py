"""Vectorized MinHash + LSH in numpy: signatures for a whole column at once, no per-document Python.

Signatures use one-permutation hashing with optimal densification (Shrivastava, ICML 2017): each
shingle hash picks one of `num_perm` bins and competes for its minimum, empty bins borrow from a
seeded chain of other bins. Collision probability per bin equals the Jaccard similarity, like
classic MinHash, at the cost of one hash per shingle instead of `num_perm`.

Chosen by measurement (benchmarks/dedup.py, 100k documents): rensa sketches the same flat shingle
hashes about 3x faster, but its digests only leave Rust as Python lists, and copying them into
numpy for banding costs more than sketching here; datasketch works one document at a time.
"""

import numpy as np

from curation.text_stats import doc_ids, mix64, sorted_unique

EMPTY = np.uint32(0xFFFFFFFF)
_U64 = np.uint64


def signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signatures (n_texts x num_perm, uint32) of flat shingle hashes with per-text offsets.

    A text without shingles gets an all-EMPTY row; callers keep such texts out of clustering.
    """
    n_docs = len(offsets) - 1
    mixed = mix64(hashes, seed)
    bins = ((mixed >> _U64(32)) * _U64(num_perm)) >> _U64(32)  # fast range reduction to [0, P)
    values = np.minimum(mixed & _U64(0xFFFFFFFF), _U64(EMPTY - 1)).astype(np.uint32)
    flat = np.full(n_docs * num_perm, EMPTY, np.uint32)
    np.minimum.at(flat, doc_ids(offsets) * num_perm + bins.astype(np.int64), values)
    return _densify(flat.reshape(n_docs, num_perm), seed)


def _densify(sig: np.ndarray, seed: int, chunk_rows: int = 8192) -> np.ndarray:
    """Fill each empty bin from the bin a seeded hash of (bin, attempt) names, retrying until that
    bin is non-empty; rows without any shingle stay empty. Row chunks keep the gathers in cache."""
    num_perm = sig.shape[1]
    bin_index = np.arange(num_perm, dtype=_U64)
    picks = []  # picks[t]: the bin attempt t+1 reads, for every bin; grown on demand
    out = sig.copy()
    for start in range(0, sig.shape[0], chunk_rows):
        block = sig[start:start + chunk_rows]
        flat, out_flat = block.ravel(), out[start:start + chunk_rows].ravel()
        slots = np.flatnonzero(flat == EMPTY).astype(np.int32)
        slots = slots[(block != EMPTY).any(axis=1)[slots // num_perm]]
        bins = slots % num_perm
        row_start = slots - bins
        attempt = 0
        while slots.size:
            if attempt == len(picks):
                picks.append((mix64(bin_index * _U64(0x10001) + _U64(attempt + 1), seed + 1)
                              % _U64(num_perm)).astype(np.int32))
            source = flat[row_start + picks[attempt][bins]]
            attempt += 1
            found = source != EMPTY
            out_flat[slots[found]] = source[found]
            open_ = ~found
            slots, bins, row_start = slots[open_], bins[open_], row_start[open_]
    return out


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimizing weighted false-positive/negative mass.

    Same criterion as datasketch's MinHashLSH; a low fp_weight favours recall (candidates are
    verified afterwards, so false positives cost time, not precision).
    """
    grid = np.linspace(0.0, 1.0, 1001)
    best, best_cost = (1, num_perm), np.inf
    for bands in range(1, num_perm + 1):
        rows = np.arange(1, num_perm // bands + 1)
        if rows.size == 0:
            continue
        prob = 1.0 - (1.0 - grid[None, :] ** rows[:, None]) ** bands
        below, above = grid <= threshold, grid >= threshold
        fp = np.trapezoid(prob[:, below], grid[below], axis=1)
        fn = np.trapezoid(1.0 - prob[:, above], grid[above], axis=1)
        cost = fp_weight * fp + (1.0 - fp_weight) * fn
        k = int(np.argmin(cost))
        if cost[k] < best_cost - 1e-12:
            best, best_cost = (bands, int(rows[k])), cost[k]
    return best


def recall_bands(threshold: float, num_perm: int, recall: float = 0.95) -> tuple[int, int]:
    """(bands, rows): the most rows per band whose LSH still finds a pair at `threshold` with
    probability >= recall; for verified candidates, where extra candidates only cost time."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold ** rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


def candidate_pairs(sig: np.ndarray, bands: int, rows: int, groups: np.ndarray | None = None,
                    active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) that share a full band; only within the same group when groups is given.

    Each bucket links every member to its first and to its predecessor: enough to connect the
    bucket, without the quadratic pairs of large buckets.
    """
    n = sig.shape[0]
    idx = np.arange(n) if active is None else np.flatnonzero(active)
    salt = np.zeros(idx.size, _U64) if groups is None else mix64(groups[idx].astype(_U64), 7)
    left, right = [], []
    # multilinear hash of a band's slots (universal), then one mix: cheaper than mixing each slot
    multipliers = mix64(np.arange(1, rows + 1, dtype=_U64), 11) | _U64(1)
    for band in range(bands):
        block = sig[idx, band * rows:(band + 1) * rows]
        key = salt + _U64(band)
        with np.errstate(over="ignore"):
            for col in range(rows):
                key += block[:, col].astype(_U64) * multipliers[col]
        key = mix64(key, band, in_place=True)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        same = sorted_key[1:] == sorted_key[:-1]
        run_start = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(idx.size), 0))
        member = np.flatnonzero(same) + 1
        left += [idx[order[run_start[member]]], idx[order[member - 1]]]
        right += [idx[order[member]], idx[order[member]]]
    if not left:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = np.concatenate(left), np.concatenate(right)
    pairs = sorted_unique(np.minimum(a, b) * n + np.maximum(a, b))
    pairs = pairs[pairs // n != pairs % n]
    return pairs // n, pairs % n


def estimated_jaccard(sig: np.ndarray, left: np.ndarray, right: np.ndarray,
                      chunk: int = 65536) -> np.ndarray:
    """Share of equal signature slots for each index pair: an unbiased Jaccard estimate."""
    out = np.empty(left.size, np.float64)
    for start in range(0, left.size, chunk):
        stop = start + chunk
        out[start:stop] = (sig[left[start:stop]] == sig[right[start:stop]]).mean(axis=1)
    return out


def exact_jaccard(hashes: np.ndarray, offsets: np.ndarray, left: np.ndarray,
                  right: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the shingle sets of each index pair (on 32-bit shingle fingerprints)."""
    if left.size == 0:
        return np.zeros(0)
    pair = np.arange(left.size, dtype=_U64)

    def keyed(docs):  # (pair << 32 | fingerprint) for every shingle of each pair's doc, distinct
        counts = offsets[docs + 1] - offsets[docs]
        starts = np.repeat(offsets[docs] - np.cumsum(counts) + counts, counts)
        values = hashes[starts + np.arange(counts.sum())] >> _U64(32)
        return sorted_unique((np.repeat(pair, counts) << _U64(32)) | values)

    a, b = keyed(left), keyed(right)
    size_a = np.bincount((a >> _U64(32)).astype(np.int64), minlength=left.size)
    size_b = np.bincount((b >> _U64(32)).astype(np.int64), minlength=left.size)
    shared = np.intersect1d(a, b, assume_unique=True) >> _U64(32)
    inter = np.bincount(shared.astype(np.int64), minlength=left.size)
    union = size_a + size_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component label per node: the smallest node index in its component (hook and compress)."""
    labels = np.arange(n)
    while True:
        low = np.minimum(labels[left], labels[right])
        before = labels.copy()
        np.minimum.at(labels, labels[left], low)  # hook roots onto the smaller label
        np.minimum.at(labels, labels[right], low)
        while True:  # compress: point every node at its root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels
