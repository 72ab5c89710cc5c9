"""Near-duplicate removal: warmstart's near_dedup vs rensa and datasketch, core against core and
whole step against whole step.

A synthetic corpus (default 100k documents, about half of them edited copies of another) goes
through each method with the same 5-token shingles, signature length, threshold and LSH bands.
Core: each library from shingles prepared beforehand to a kept set (warmstart from its flat
uint64 shingle hashes; rensa's RMinHashDeduplicator.add_pairs from the same shingles as strings,
the form its API takes; datasketch's MinHash.bulk from the same uint64 hashes with an identity
hashfunc, then MinHashLSH query-then-insert). Whole step: raw text to kept set, the peers with
the fastest shingler a user of theirs writes (str.split windows, the same shingles on this corpus:
checked) and datasketch with xxhash as its hashfunc (its docs: a faster hash than its SHA1
default); datasketch's defaults (SHA1, update_batch per document) are timed too. Sketch only: the
same flat uint64 hashes through warmstart's numpy MinHash vs rensa's bulk matrix API. Rates are
medians of --repeats interleaved runs; datasketch and warmstart are also timed on the first
--datasketch-docs documents for their ratio. Accuracy: on a --sample of whole duplicate families,
each method's dropped set against exact-Jaccard dedup. Prints one JSON line.

Usage: python benchmarks/dedup.py [--docs 100000] [--datasketch-docs 10000] [--sample 2000] [--repeats 3]
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import rensa  # noqa: E402
import xxhash  # noqa: E402
from datasketch import MinHash, MinHashLSH  # noqa: E402  (imported up front: its import takes seconds)

from curation import minhash  # noqa: E402
from curation.dedup import NearDupConfig, near_dedup, near_duplicate_labels  # noqa: E402
from curation.text_stats import ngram_hashes  # noqa: E402
from peers import interleaved, load_average, versions  # noqa: E402

TOKEN = re.compile(r"\w+|[^\w\s]")  # warmstart's tokenizer on ASCII text, in Python's re


def make_corpus(n_docs: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Documents and their family ids: bases plus edited copies (0-10% of tokens changed)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, size=rng.integers(2, 9))) for _ in range(30_000)] + [".", ","]
    weights = 1.0 / (np.arange(len(vocab)) + 20.0)  # Zipf-like: common words make shingles collide
    cdf = np.cumsum(weights) / weights.sum()
    docs, families, family = [], [], -1
    while len(docs) < n_docs:
        length = int(np.clip(rng.lognormal(4.6, 0.6), 8, 600))
        base = np.searchsorted(cdf, rng.random(length)).tolist()
        family += 1
        docs.append(base)
        families.append(family)
        for _ in range(rng.geometric(0.5) - 1):
            docs.append(_edit(base, 0.0 if rng.random() < 0.1 else rng.uniform(0, 0.1), rng, len(vocab)))
            families.append(family)
    order = rng.permutation(len(docs))[:n_docs]
    texts = [" ".join(vocab[t] for t in docs[i]) for i in order]
    return texts, np.asarray(families)[order]


def _edit(tokens: list, rate: float, rng, vocab_size: int) -> list:
    out = list(tokens)
    for _ in range(rng.binomial(len(out), rate)):
        at, kind = int(rng.integers(len(out))), rng.random()
        if kind < 0.6:
            out[at] = int(rng.integers(vocab_size))
        elif kind < 0.8 and len(out) > 2:
            del out[at]
        else:
            out.insert(at, int(rng.integers(vocab_size)))
    return out


def shingles(text: str, k: int, tokens=None) -> list[str]:
    """k-token windows joined by spaces; tokens from warmstart's rule in Python's re unless given."""
    tokens = TOKEN.findall(text.lower()) if tokens is None else tokens
    if len(tokens) < k:
        return [" ".join(tokens)] if tokens else []
    return list(map(" ".join, zip(*(tokens[i:] for i in range(k)))))


def split_shingles(text: str, k: int) -> list[str]:
    """The shingler a rensa or datasketch user writes (rensa's README tokenizes with str.split)."""
    return shingles(text, k, text.split())


def as_table(texts: list[str]) -> pa.Table:
    """The step's input: an Arrow table, as the curate flow holds it."""
    return pa.table({"doc_id": [str(i) for i in range(len(texts))], "text": texts})


def per_doc(hashes: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    """Each document's shingle hashes as Python ints (datasketch hashes item by item)."""
    return [part.tolist() for part in np.split(hashes, offsets[1:-1])]


def run_warmstart(table: pa.Table, cfg: NearDupConfig) -> np.ndarray:
    """The whole step: text to StepResult (drop log and cluster table included)."""
    kept = near_dedup(table, cfg, text_column="text", id_column="doc_id").kept
    mask = np.zeros(table.num_rows, bool)
    mask[np.asarray(kept.column("doc_id").to_pylist(), dtype=np.int64)] = True
    return mask


def warmstart_core(hashes: np.ndarray, offsets: np.ndarray, cfg: NearDupConfig) -> np.ndarray:
    labels, _ = near_duplicate_labels(hashes, offsets, cfg)
    return labels == np.arange(labels.size)


def rensa_core(shingle_lists: list[list[str]], cfg: NearDupConfig, bands: int) -> np.ndarray:
    dedup = rensa.RMinHashDeduplicator(threshold=cfg.threshold, num_perm=cfg.num_perm, use_lsh=True,
                                       num_bands=bands, seed=cfg.seed)
    return np.asarray(dedup.add_pairs((str(i), s) for i, s in enumerate(shingle_lists)), bool)


def rensa_whole(texts: list[str], cfg: NearDupConfig, bands: int) -> np.ndarray:
    return rensa_core([split_shingles(t, cfg.shingle_size) for t in texts], cfg, bands)


def datasketch_kept(minhashes, cfg: NearDupConfig, bands: int, rows: int) -> np.ndarray:
    """MinHashLSH keep-first: query each document and insert it unless a kept candidate's estimated
    Jaccard reaches the threshold (the check rensa's deduplicator and warmstart make too)."""
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, params=(bands, rows))
    kept = np.zeros(len(minhashes), bool)
    for i, m in enumerate(minhashes):
        if not any(m.jaccard(minhashes[c]) >= cfg.threshold for c in lsh.query(m)):
            lsh.insert(i, m)
            kept[i] = True
    return kept


def datasketch_core(doc_hashes: list[list[int]], cfg: NearDupConfig, bands: int, rows: int) -> np.ndarray:
    minhashes = MinHash.bulk(doc_hashes, num_perm=cfg.num_perm, seed=cfg.seed, scheme="affine64",
                             hashfunc=lambda h: h)
    return datasketch_kept(minhashes, cfg, bands, rows)


def datasketch_whole(texts: list[str], cfg: NearDupConfig, bands: int, rows: int) -> np.ndarray:
    minhashes = MinHash.bulk(([s.encode() for s in split_shingles(t, cfg.shingle_size)] for t in texts),
                             num_perm=cfg.num_perm,
                             seed=cfg.seed, scheme="affine64", hashfunc=xxhash.xxh64_intdigest)
    return datasketch_kept(minhashes, cfg, bands, rows)


def datasketch_defaults(texts: list[str], cfg: NearDupConfig, bands: int, rows: int) -> np.ndarray:
    """datasketch as its README shows it: a MinHash per document, update_batch of UTF-8 bytes (SHA1)."""
    minhashes = []
    for text in texts:
        m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)
        m.update_batch([s.encode() for s in split_shingles(text, cfg.shingle_size)])
        minhashes.append(m)
    return datasketch_kept(minhashes, cfg, bands, rows)


def sketch_only(hashes: np.ndarray, offsets: np.ndarray, cfg: NearDupConfig) -> dict:
    """The same flat shingle hashes: warmstart's numpy signatures vs rensa's bulk matrix (+ export)."""
    flat_offsets = offsets.astype(np.uint64)
    return {"warmstart": lambda: minhash.signatures(hashes, offsets, cfg.num_perm, cfg.seed),
            "rensa": lambda: rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, flat_offsets, cfg.num_perm,
                                                                                 cfg.seed),
            "rensa_with_export": lambda: np.asarray(rensa.RMinHash.digest_matrix_from_flat_token_hashes(
                hashes, flat_offsets, cfg.num_perm, cfg.seed).to_rows(), dtype=np.uint32)}


def exact_kept(shingle_lists: list[list[str]], threshold: float) -> np.ndarray:
    """Exact-Jaccard dedup: components of pairs with J >= threshold, first of each kept."""
    sets = [set(s) for s in shingle_lists]
    postings = {}
    for i, s in enumerate(sets):
        for sh in s:
            postings.setdefault(sh, []).append(i)
    pairs = {(a, b) for docs in postings.values() if len(docs) > 1 for a in docs for b in docs if a < b}
    parent = list(range(len(sets)))

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for a, b in pairs:
        if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= threshold:
            ra, rb = root(a), root(b)
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(i) == i for i in range(len(sets))])


def agreement(kept: np.ndarray, truth: np.ndarray) -> dict:
    """Precision and recall of the dropped set against exact dedup, and kept-set agreement."""
    dropped, true_dropped = ~kept, ~truth
    both = int((dropped & true_dropped).sum())
    return {"precision": round(both / max(int(dropped.sum()), 1), 4),
            "recall": round(both / max(int(true_dropped.sum()), 1), 4),
            "kept_agreement": round(float((kept == truth).mean()), 4)}


def family_sample(families: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of whole families, in corpus order, until `size` documents."""
    rng = np.random.default_rng(seed + 1)
    chosen, total = [], 0
    members = {}
    for i, f in enumerate(families):
        members.setdefault(int(f), []).append(i)
    for f in rng.permutation(list(members)):
        if total >= size:
            break
        chosen += members[int(f)]
        total += len(members[int(f)])
    return np.sort(np.asarray(chosen[:size]))


def median_seconds(runs: dict, repeats: int) -> dict[str, float]:
    """Median wall seconds of each run over interleaved repeats."""
    def clocked(fn):
        def run():
            tic = time.perf_counter()
            fn()
            return time.perf_counter() - tic
        return run
    return {name: float(np.median(s)) for name, s in interleaved({k: clocked(f) for k, f in runs.items()},
                                                                      repeats).items()}


def rates(n_docs: int, seconds: dict[str, float]) -> dict[str, float]:
    return {name: round(n_docs / s, 1) for name, s in seconds.items()}


def accuracy(texts, shingle_lists, hashes_docs, cfg, bands, rows) -> dict:
    """Each method's dropped set against exact-Jaccard dedup on the same documents."""
    truth = exact_kept(shingle_lists, cfg.threshold)
    kept = {"warmstart": run_warmstart(as_table(texts), cfg), "rensa": rensa_core(shingle_lists, cfg, bands),
            "datasketch": datasketch_core(hashes_docs, cfg, bands, rows)}
    return {"exact_dropped": int((~truth).sum()), **{name: agreement(k, truth) for name, k in kept.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--datasketch-docs", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    load_start = load_average()
    # rensa needs bands dividing num_perm: 16 x 8 gives LSH recall 0.95 at J = 0.8
    cfg = NearDupConfig(shingle_size=5, num_perm=128, threshold=0.8, num_bands=16)
    bands, rows = cfg.bands()
    texts, families = make_corpus(args.docs, args.seed)
    table = as_table(texts)
    hashes, offsets = ngram_hashes(table.column("text"), cfg.shingle_size)
    shingle_lists = [shingles(t, cfg.shingle_size) for t in texts]
    sample = family_sample(families, args.sample, args.seed)
    assert all(split_shingles(texts[i], cfg.shingle_size) == shingle_lists[i] for i in sample), \
        "str.split shingles differ from warmstart's tokenizer on this corpus"
    n, small = len(texts), args.datasketch_docs
    small_table, small_hashes, small_offsets = table.slice(0, small), hashes[:offsets[small]], offsets[:small + 1]
    small_docs = per_doc(small_hashes, small_offsets)
    core = median_seconds({"warmstart": lambda: warmstart_core(hashes, offsets, cfg),
                           "rensa": lambda: rensa_core(shingle_lists, cfg, bands)}, args.repeats)
    whole = median_seconds({"warmstart": lambda: run_warmstart(table, cfg),
                            "rensa": lambda: rensa_whole(texts, cfg, bands)}, args.repeats)
    sketch = median_seconds(sketch_only(hashes, offsets, cfg), args.repeats)
    small_runs = median_seconds({
        "warmstart_core": lambda: warmstart_core(small_hashes, small_offsets, cfg),
        "datasketch_core": lambda: datasketch_core(small_docs, cfg, bands, rows),
        "warmstart_whole": lambda: run_warmstart(small_table, cfg),
        "datasketch_whole": lambda: datasketch_whole(texts[:small], cfg, bands, rows),
        "datasketch_defaults": lambda: datasketch_defaults(texts[:small], cfg, bands, rows)}, args.repeats)
    sample_hashes = per_doc(*ngram_hashes(pa.array([texts[i] for i in sample]), cfg.shingle_size))
    print(json.dumps({
        "benchmark": "dedup", "docs": n, "datasketch_docs": small, "repeats": args.repeats,
        "versions": versions("rensa", "datasketch", "xxhash", "numpy"),
        "params": {"shingle_tokens": cfg.shingle_size, "num_perm": cfg.num_perm, "threshold": cfg.threshold,
                   "bands": bands, "rows": rows},
        "settings": {
            "warmstart": "near_dedup (verify=estimate, keep=first); core: near_duplicate_labels on flat uint64 "
                         "shingle hashes",
            "rensa": f"RMinHashDeduplicator(threshold, num_perm, use_lsh=True, num_bands={bands}, seed).add_pairs; "
                     "whole step: str.split 5-token windows",
            "datasketch": f"MinHash.bulk(scheme=affine64) + MinHashLSH(params=({bands}, {rows})) query-then-insert; "
                          "core: identity hashfunc on the uint64 shingle hashes; whole step: str.split windows, "
                          "hashfunc xxhash.xxh64_intdigest; defaults: MinHash per document, update_batch of UTF-8 "
                          "bytes (SHA1)"},
        "core_docs_per_s": rates(n, core), "whole_docs_per_s": rates(n, whole),
        "sketch_docs_per_s": rates(n, sketch),
        "datasketch_docs_per_s": rates(small, small_runs),
        "dropped_full": {"warmstart": int((~run_warmstart(table, cfg)).sum()),
                         "rensa": int((~rensa_core(shingle_lists, cfg, bands)).sum())},
        "sample_docs": int(sample.size),
        "accuracy_vs_exact_jaccard": accuracy([texts[i] for i in sample], [shingle_lists[i] for i in sample],
                                              sample_hashes, cfg, bands, rows),
        "load_avg_start_end": [load_start, load_average()]}))


if __name__ == "__main__":
    main()
