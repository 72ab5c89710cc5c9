"""Tokens, n-gram hashes and quality ratios over string columns."""

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curation import text_stats as ts

_P = 0x100000001B3


def reference_ngrams(hashes, lengths, n):
    """Plain-Python n-gram hashes: the spec ngrams_from_tokens must match."""
    out, offsets, start = [], [0], 0
    for length in lengths:
        tokens = [int(h) for h in hashes[start:start + length]]
        start += length
        windows = [tokens[i:i + n] for i in range(max(length - n + 1, 1))] if length else []
        for window in windows:
            acc = 0
            for token in window:
                acc = (acc * _P + token) % 2**64
            out.append(acc)
        offsets.append(len(out))
    return ts.mix64(np.array(out, dtype=np.uint64)), np.array(offsets)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 15), max_size=20), st.integers(1, 14))
def test_ngram_hashes_match_the_plain_python_definition(lengths, n):
    lengths = np.array(lengths, dtype=np.int64)
    hashes = np.random.default_rng(0).integers(0, 2**63, size=int(lengths.sum()), dtype=np.uint64)
    got, got_offsets = ts.ngrams_from_tokens(hashes, lengths, n)
    want, want_offsets = reference_ngrams(hashes, lengths, n)
    assert np.array_equal(got_offsets, want_offsets)
    assert np.array_equal(got, want)


def test_tokens_ignore_case_width_and_spacing_and_split_symbols():
    texts = ["Hello, World 3+4=7", "  hello ,world   3 + 4 = 7 ", "ＨＥＬＬＯ, world 3+4=7", "", None, "   "]
    hashes, lengths = ts.token_hashes(texts)
    assert lengths.tolist() == [8, 8, 8, 0, 0, 0]  # hello , world 3 + 4 = 7
    first, second, third = hashes[:8], hashes[8:16], hashes[16:24]
    assert np.array_equal(first, second) and np.array_equal(first, third)
    whole = ts.sequence_hashes(texts)
    assert whole[0] == whole[1] == whole[2] and whole[3] == whole[4] and whole[0] != whole[3]
    assert ts.approx_token_counts(texts).tolist() == [8, 8, 8, 0, 0, 0]


def test_mixed_whitespace_in_unicode_batches_gives_no_empty_tokens():
    texts = ["Do not add text . \n5. Done.\n", "p ∨ q", "a \t\n b"]
    _, lengths = ts.token_hashes(texts)
    assert lengths.tolist() == [9, 3, 2]  # do not add text . 5 . done .
    assert ts.sequence_hashes(["a \t\n b", "∨"])[0] == ts.sequence_hashes(["a b", "∨"])[0]


def test_repetition_ratio_flags_loops_not_prose():
    loop = "the answer is 4. " * 20
    prose = "First add three and four to get seven, then double it for fourteen."
    ratios = ts.repetition_ratios([loop, prose, "short", ""], n=4)
    assert ratios[0] > 0.8
    assert ratios[1] == 0.0 and ratios[2] == 0.0 and ratios[3] == 0.0


def test_repetition_ratio_in_chunks_matches_one_pass():
    texts = ["the answer is 4. " * (i % 5 + 1) + f"case {i}" for i in range(23)]
    assert np.array_equal(ts.repetition_ratios(texts, n=3, chunk=4), ts.repetition_ratios(texts, n=3))


def test_garbled_and_script_ratios():
    texts = pa.array(["clean text\n\twith tabs", "bad\x00\x01\ufffd!", "Привет мир", "α + β = γ in Latin"])
    garbled = ts.garbled_ratios(texts)
    assert garbled[0] == 0.0 and abs(garbled[1] - 3 / 7) < 1e-9
    other = ts.other_script_ratios(texts, ["Latin", "Greek"])
    assert other[2] == 1.0 and other[0] == 0.0 and other[3] == 0.0


def test_set_helpers_agree_with_numpy():
    values = np.random.default_rng(1).integers(0, 50, size=500).astype(np.uint64)
    assert np.array_equal(ts.sorted_unique(values), np.unique(values))
    unique, counts = ts.unique_counts(values)
    assert np.array_equal(counts, np.unique(values, return_counts=True)[1])
    assert ts.contains(unique[::2], values).tolist() == np.isin(values, unique[::2]).tolist()
    first = ts.first_of_each(values)
    assert np.array_equal(np.sort(values[first]), unique)
    offsets = np.array([0, 3, 3, 6])
    assert ts.distinct_counts(np.array([1, 1, 2, 5, 6, 7], np.uint64) << np.uint64(40), offsets).tolist() == [2, 0, 3]
