"""The n-gram index of every eval set, and the lookups that match prompts against it.

All benchmarks share one sorted index (an item's global number = its benchmark's offset + its
index there), so each prompt n-gram is looked up once, whatever the number of eval sets.
Texts can be seen through two normalisations before tokenizing: with punctuation, quotes, list
markers and bracket kinds normalised (re-punctuated and re-numbered copies then match), and
with every number masked (copies whose numbers changed then match).
"""

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation import text_stats

# What `punctuation` normalises, in this order: list markers at line starts ("1.", "(2)", "b)",
# "-", "*") go; commas and colons go; quotes become '"'; ? ! ; become "."; every text ends in
# exactly one "." (so a copy that lost its final "?" still matches, and a longer question that
# starts with an item does not: "2 crabs." is not in "2 crabs, 1 lion."); [ ] { } become ( ).
# Quotes, sentence ends, operators and brackets stay as tokens: they delimit or change meaning.
PUNCTUATION_RULES = ((r"(?m)^[ \t]*\.?[ \t]*(?:\(?\pN{1,2}[.):]|\(?[a-zA-Z][.)]|[-*\x{2022}])[ \t]+", ""),
                     (r"[,:]", " "), (r"['`\x{2018}\x{2019}\x{201C}\x{201D}]", '"'), (r"[?!;]", "."),
                     (r"[\s.]*$", " ."), (r"[\[{]", "("), (r"[\]}]", ")"))
NUMBER = r"\pN+(?:[.,]\pN+)*"
NUMBER_MASK = "0"


class EvalIndex(NamedTuple):
    """Distinctive n-grams of all items (sorted, with their global item), whole-text hashes
    (sorted, with their item), n-grams per item, and the lengths of items shorter than n that
    are matched wherever their whole token sequence appears."""

    hashes: np.ndarray
    items: np.ndarray
    item_sizes: np.ndarray
    exact: np.ndarray
    exact_items: np.ndarray
    short_lengths: np.ndarray
    offsets: dict[str, int]
    n_template: dict[str, int]


class Grams(NamedTuple):
    """A chunk of prompts seen as the index sees them: (n-gram, prompt) pairs, whole-text hashes,
    and (L-gram, prompt) pairs for each short item length L."""

    hashes: np.ndarray
    prompt_of: np.ndarray
    whole: np.ndarray
    short: dict[int, tuple[np.ndarray, np.ndarray]]


def normalize(texts, *, punctuation: bool, numbers: bool) -> pa.Array:
    """The texts with punctuation normalised (PUNCTUATION_RULES) and/or every number masked."""
    arr = text_stats.as_arrow(texts)
    if punctuation:
        for pattern, replacement in PUNCTUATION_RULES:
            arr = pc.replace_substring_regex(arr, pattern, replacement)
    if numbers:
        arr = pc.replace_substring_regex(arr, NUMBER, NUMBER_MASK)
    return arr


class _Part(NamedTuple):
    hashes: np.ndarray  # distinctive n-grams
    items: np.ndarray  # their item (local index)
    sizes: np.ndarray  # distinctive n-grams per item
    whole: np.ndarray  # whole-text hash per item
    lengths: np.ndarray  # tokens per item
    n_template: int


def build_index(eval_sets: dict[str, list[str]], n: int, template_share: float | None, *,
                punctuation: bool, numbers: bool, contained_min_tokens: int | None) -> EvalIndex:
    """One index over every benchmark. Items shorter than n but of at least contained_min_tokens
    are matched wherever their tokens appear in order (None: only as a whole text). With
    `numbers`, only items of n+ tokens get n-grams (a short item with other numbers is another
    item) and there is no exact part."""
    parts, offsets, start = {}, {}, 0
    for name in sorted(eval_sets):
        parts[name] = _benchmark_part(text_stats.as_arrow(eval_sets[name]), n, template_share,
                                      punctuation=punctuation, numbers=numbers)
        offsets[name], start = start, start + len(eval_sets[name])
    if not parts:
        parts[""] = _Part(*(np.zeros(0, np.int64) for _ in range(5)), 0)
    hashes = np.concatenate([p.hashes for p in parts.values()]).astype(np.uint64)
    items = np.concatenate([p.items + offsets.get(name, 0) for name, p in parts.items()])
    whole = np.concatenate([p.whole for p in parts.values()]).astype(np.uint64)
    lengths = np.concatenate([p.lengths for p in parts.values()])
    short = np.unique(lengths[(lengths < n) & (lengths >= (contained_min_tokens or n))])
    if numbers:  # matched by their masked n-grams only
        whole, short = whole[:0], short[:0]
    order, exact_order = np.argsort(hashes, kind="stable"), np.argsort(whole, kind="stable")
    return EvalIndex(hashes[order], items[order], np.concatenate([p.sizes for p in parts.values()]),
                     whole[exact_order], exact_order, short, offsets,
                     {name: p.n_template for name, p in parts.items() if name in offsets})


def _benchmark_part(texts: pa.Array, n: int, template_share: float | None, *, punctuation: bool,
                    numbers: bool) -> _Part:
    """One benchmark's distinctive n-grams; template n-grams are those shared by many distinct
    items (items told apart by their un-masked text, so masked numbers do not merge them)."""
    plain = text_stats.token_hashes(normalize(texts, punctuation=punctuation, numbers=False))
    whole = whole_hashes(*plain)
    _, first, canonical = np.unique(whole, return_index=True, return_inverse=True)
    # the n-grams are of the number-masked text when asked, else of the same tokens again
    tokens, lengths = text_stats.token_hashes(normalize(texts, punctuation=punctuation, numbers=True)) \
        if numbers else plain
    hashes, offsets = text_stats.ngrams_from_tokens(tokens, lengths, n)
    hashes, items = distinct_pairs(hashes, text_stats.doc_ids(offsets))
    if numbers:  # masked: items shorter than n own no n-gram
        long_enough = lengths[items] >= n
        hashes, items = hashes[long_enough], items[long_enough]
    n_template = 0
    if template_share is not None and first.size > 1:
        # document frequency over distinct item texts, so repeated items do not make a template
        df_hashes, _ = distinct_pairs(hashes, canonical[items])
        unique, counts = text_stats.unique_counts(df_hashes)
        template = unique[counts >= max(2, template_share * first.size)]
        n_template = int(template.size)
        keep = ~text_stats.contains(template, hashes)
        hashes, items = hashes[keep], items[keep]
    return _Part(hashes, items, np.bincount(items, minlength=len(texts)), whole, lengths, n_template)


def prompt_grams(texts, n: int, short_lengths: np.ndarray, *, punctuation: bool, numbers: bool) -> Grams:
    """The n-grams (and L-grams of the short lengths) of a chunk of prompts, tokenized once."""
    tokens, lengths = text_stats.token_hashes(normalize(texts, punctuation=punctuation, numbers=numbers))
    hashes, offsets = text_stats.ngrams_from_tokens(tokens, lengths, n)
    short = {}
    for length in short_lengths.tolist():
        grams, grams_offsets = text_stats.ngrams_from_tokens(tokens, lengths, length)
        short[length] = grams, text_stats.doc_ids(grams_offsets)
    return Grams(hashes, text_stats.doc_ids(offsets), whole_hashes(tokens, lengths), short)


def whole_hashes(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """One hash per text of its whole token sequence (order-sensitive): equal iff the tokens are."""
    lengths = np.asarray(lengths, np.int64)
    starts = np.cumsum(lengths) - lengths
    position = (np.arange(tokens.size) - np.repeat(starts, lengths)).astype(np.uint64)
    mixed = text_stats.mix64(tokens ^ text_stats.mix64(position, 9), 3)
    sums = np.add.reduceat(mixed, np.minimum(starts, max(tokens.size - 1, 0))) if tokens.size else mixed[:0]
    sums = np.where(lengths > 0, sums, np.uint64(0)) if tokens.size else np.zeros(lengths.size, np.uint64)
    return text_stats.mix64(sums ^ lengths.astype(np.uint64), 4)


def exact_matches(whole: np.ndarray, index: EvalIndex) -> tuple[np.ndarray, np.ndarray]:
    """(prompt, item) arrays of prompts whose whole token sequence equals an item's."""
    if index.exact.size == 0 or whole.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    slot = np.minimum(np.searchsorted(index.exact, whole), index.exact.size - 1)
    found = np.flatnonzero(index.exact[slot] == whole)
    return found, index.exact_items[slot[found]]


def ngram_matches(hashes: np.ndarray, prompt_of: np.ndarray, index: EvalIndex,
                  min_coverage: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prompt, item, coverage) arrays of pairs whose coverage of the item >= min_coverage; a
    prompt's repeated n-gram counts once."""
    empty = np.zeros(0, np.int64)
    if hashes.size == 0 or index.hashes.size == 0:
        return empty, empty, np.zeros(0)
    # almost no prompt n-gram is in the index: a hash-set probe first, the rest on the few hits
    found = text_stats.contains(index.hashes, hashes)
    hashes, prompt_of = distinct_pairs(hashes[found], prompt_of[found])
    lo = np.searchsorted(index.hashes, hashes, side="left")
    n_found = np.searchsorted(index.hashes, hashes, side="right") - lo
    if not n_found.any():
        return empty, empty, np.zeros(0)
    first_slot = np.repeat(lo - (np.cumsum(n_found) - n_found), n_found)
    item = index.items[first_slot + np.arange(n_found.sum())]
    pair_keys, shared = text_stats.unique_counts((np.repeat(prompt_of, n_found).astype(np.int64) << 32) | item)
    prompt, item = pair_keys >> 32, pair_keys & 0xFFFFFFFF
    coverage = shared / index.item_sizes[item]
    hit = coverage >= min_coverage
    return prompt[hit], item[hit], coverage[hit]


def distinct_pairs(hashes: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each (hash, owner) pair once."""
    owners = owners.astype(np.int64)
    first = text_stats.first_of_each(hashes ^ text_stats.mix64(owners.astype(np.uint64), 5))
    return hashes[first], owners[first]
