"""Vectorized MinHash: estimates track exact Jaccard; LSH, verification and components are exact."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation import minhash
from curation.text_stats import ngram_hashes


def set_pair_table(n_pairs: int, size: int, seed: int):
    """Flat hashes/offsets for pairs of sets with overlaps spread over 0..1, and their true Jaccard."""
    rng = np.random.default_rng(seed)
    chunks, truth = [], []
    for k in range(n_pairs):
        shared = int(size * k / (n_pairs - 1))
        common = rng.integers(0, 2**63, size=shared, dtype=np.uint64)
        a = np.concatenate([common, rng.integers(0, 2**63, size=size - shared, dtype=np.uint64)])
        b = np.concatenate([common, rng.integers(0, 2**63, size=size - shared, dtype=np.uint64)])
        chunks += [a, b]
        truth.append(shared / (2 * size - shared))
    offsets = np.concatenate([[0], np.cumsum([c.size for c in chunks])])
    return np.concatenate(chunks), offsets, np.array(truth)


def test_estimates_track_exact_jaccard():
    hashes, offsets, truth = set_pair_table(40, 200, seed=0)
    sig = minhash.signatures(hashes, offsets, 256, seed=1)
    left, right = np.arange(0, 80, 2), np.arange(1, 80, 2)
    estimate = minhash.estimated_jaccard(sig, left, right)
    assert np.abs(estimate - truth).mean() < 0.03
    assert np.abs(estimate - truth).max() < 0.12
    assert np.allclose(minhash.exact_jaccard(hashes, offsets, left, right), truth)


def test_signatures_are_seeded_and_handle_empty_and_tiny_texts():
    hashes, offsets = ngram_hashes(["one two three four five six", "", "single"], 3)
    sig = minhash.signatures(hashes, offsets, 64, seed=7)
    assert np.array_equal(sig, minhash.signatures(hashes, offsets, 64, seed=7))
    assert not np.array_equal(sig, minhash.signatures(hashes, offsets, 64, seed=8))
    assert (sig[1] == minhash.EMPTY).all()  # no shingles: never similar to anything
    assert len(set(sig[2].tolist())) == 1 and sig[2][0] != minhash.EMPTY  # one shingle fills every bin
    assert (sig[0] != minhash.EMPTY).all()


def test_recall_bands_reach_the_recall_with_the_most_rows():
    bands, rows = minhash.recall_bands(0.8, 128, recall=0.95)
    found = lambda b, r: 1 - (1 - 0.8 ** r) ** b  # noqa: E731
    assert bands * rows <= 128 and found(bands, rows) >= 0.95
    assert found(128 // (rows + 1), rows + 1) < 0.95


def test_optimal_bands_match_datasketch():
    lsh = pytest.importorskip("datasketch.lsh")
    for threshold, num_perm in [(0.8, 128), (0.5, 64), (0.9, 256)]:
        assert minhash.optimal_bands(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)


def test_candidate_pairs_respect_groups():
    texts = ["the same words in the same order here"] * 3 + ["something else entirely different now"]
    hashes, offsets = ngram_hashes(texts, 2)
    sig = minhash.signatures(hashes, offsets, 64, seed=0)
    left, right = minhash.candidate_pairs(sig, 8, 8)
    assert sorted(zip(left.tolist(), right.tolist())) == [(0, 1), (0, 2), (1, 2)]
    left, right = minhash.candidate_pairs(sig, 8, 8, groups=np.array([0, 1, 0, 0]))
    assert sorted(zip(left.tolist(), right.tolist())) == [(0, 2)]
    left, right = minhash.candidate_pairs(sig, 8, 8, active=np.array([True, False, True, True]))
    assert sorted(zip(left.tolist(), right.tolist())) == [(0, 2)]


def python_components(n, edges):
    parent = list(range(n))

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x
    for a, b in edges:
        ra, rb = root(a), root(b)
        parent[max(ra, rb)] = min(ra, rb)
    return [root(i) for i in range(n)]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))))
def test_components_label_each_node_with_its_smallest_member(case):
    n, edges = case
    left = np.array([a for a, _ in edges], dtype=np.int64)
    right = np.array([b for _, b in edges], dtype=np.int64)
    assert minhash.connected_components(n, left, right).tolist() == python_components(n, edges)
