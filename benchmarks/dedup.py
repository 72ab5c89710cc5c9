"""Near-duplicate removal: warmstart's near_dedup vs rensa and datasketch used directly.

A synthetic corpus (default 100k documents, about half of them edited copies of another) goes
through each method with the same shingles (5-token), signature length, threshold and LSH bands.
Throughput is documents per second from raw text to kept set; rensa is also timed on shingles
prepared beforehand (its library part alone). Accuracy: on a 2k-document sample made of whole
duplicate families, each method's dropped set is compared with exact-Jaccard dedup (connected
components of pairs with Jaccard >= threshold, first document kept). Prints one JSON line.

Usage: python benchmarks/dedup.py [--docs 100000] [--datasketch-docs 10000] [--sample 2000]
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from tqdm import tqdm  # noqa: E402

from curation import minhash  # noqa: E402
from curation.dedup import NearDupConfig, near_dedup  # noqa: E402
from curation.text_stats import ngram_hashes  # noqa: E402

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


def shingles(text: str, k: int) -> list[str]:
    tokens = TOKEN.findall(text.lower())
    if len(tokens) < k:
        return [" ".join(tokens)] if tokens else []
    return list(map(" ".join, zip(*(tokens[i:] for i in range(k)))))


def signature_backends(table: pa.Table, cfg: NearDupConfig) -> dict:
    """Seconds to sketch the same shingle hashes: numpy (used) vs rensa's flat-hash batch API,
    whose digests must then be copied out to numpy for banding."""
    import rensa

    hashes, offsets = ngram_hashes(table.column("text"), cfg.shingle_size)
    _, numpy_s, _ = timed(minhash.signatures, hashes, offsets, cfg.num_perm, cfg.seed)
    matrix, sketch_s, _ = timed(rensa.RMinHash.digest_matrix_from_flat_token_hashes,
                                hashes, offsets.astype(np.uint64), cfg.num_perm, cfg.seed)
    _, export_s, _ = timed(lambda: np.asarray(matrix.to_rows(), dtype=np.uint32))
    return {"numpy_s": round(numpy_s, 2), "rensa_sketch_s": round(sketch_s, 2),
            "rensa_export_to_numpy_s": round(export_s, 2)}


def as_table(texts: list[str]) -> pa.Table:
    """The step's input: an Arrow table, as the curate flow holds it."""
    return pa.table({"doc_id": [str(i) for i in range(len(texts))], "text": texts})


def run_warmstart(table: pa.Table, cfg: NearDupConfig) -> np.ndarray:
    kept = near_dedup(table, cfg, text_column="text", id_column="doc_id").kept
    mask = np.zeros(table.num_rows, bool)
    mask[np.asarray(kept.column("doc_id").to_pylist(), dtype=np.int64)] = True
    return mask


def run_rensa(shingle_lists: list[list[str]], cfg: NearDupConfig, bands: int) -> np.ndarray:
    import rensa

    dedup = rensa.RMinHashDeduplicator(threshold=cfg.threshold, num_perm=cfg.num_perm, use_lsh=True,
                                       num_bands=bands, seed=cfg.seed)
    return np.asarray(dedup.add_pairs((str(i), s) for i, s in enumerate(shingle_lists)), bool)


def run_datasketch(shingle_lists: list[list[str]], cfg: NearDupConfig, bands: int, rows: int) -> np.ndarray:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, params=(bands, rows))
    kept = np.zeros(len(shingle_lists), bool)
    for i, sh in enumerate(tqdm(shingle_lists, desc="datasketch", leave=False, file=sys.stderr)):
        m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)
        m.update_batch([s.encode() for s in sh])
        if not lsh.query(m):
            lsh.insert(str(i), m)
            kept[i] = True
    return kept


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


def timed(fn, *args):
    """(result, wall seconds, CPU seconds of this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--datasketch-docs", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # rensa needs bands dividing num_perm: 16 x 8 gives LSH recall 0.95 at J = 0.8
    cfg = NearDupConfig(shingle_size=5, num_perm=128, threshold=0.8, num_bands=16)
    bands, rows = cfg.bands()
    texts, families = make_corpus(args.docs, args.seed)

    table = as_table(texts)
    ws_kept, ws_s, ws_cpu = timed(run_warmstart, table, cfg)
    backends = signature_backends(table, cfg)
    shingle_lists, shingle_s, shingle_cpu = timed(lambda: [shingles(t, cfg.shingle_size) for t in texts])
    rensa_kept, rensa_s, rensa_cpu = timed(run_rensa, shingle_lists, cfg, bands)
    small = shingle_lists[:args.datasketch_docs]
    _, ds_shingle_s, ds_shingle_cpu = timed(lambda: [shingles(t, cfg.shingle_size) for t in texts[:args.datasketch_docs]])
    _, ds_s, ds_cpu = timed(run_datasketch, small, cfg, bands, rows)

    sample = family_sample(families, args.sample, args.seed)
    sample_texts = [texts[i] for i in sample]
    sample_shingles = [shingle_lists[i] for i in sample]
    truth = exact_kept(sample_shingles, cfg.threshold)
    n = len(texts)
    rates = {"warmstart_docs_per_s": n / ws_s, "rensa_docs_per_s": n / (shingle_s + rensa_s),
             "rensa_prepared_shingles_docs_per_s": n / rensa_s,
             "datasketch_docs_per_s": args.datasketch_docs / (ds_shingle_s + ds_s)}
    result = {
        "benchmark": "dedup", "docs": n, "datasketch_docs": args.datasketch_docs,
        "note": f"datasketch timed on the first {args.datasketch_docs} documents only; rensa and datasketch "
                "keep a document unless it resembles an already kept one, warmstart keeps the first of "
                "each connected cluster (as the exact reference does); python shingling is part of the "
                "rensa and datasketch times, except rensa_prepared_shingles",
        "params": {"shingle_tokens": cfg.shingle_size, "num_perm": cfg.num_perm,
                   "threshold": cfg.threshold, "bands": bands, "rows": rows},
        **{k: round(v, 1) for k, v in rates.items()},
        "speedup_vs_rensa": round(rates["warmstart_docs_per_s"] / rates["rensa_docs_per_s"], 2),
        "speedup_vs_rensa_prepared_shingles": round(
            rates["warmstart_docs_per_s"] / rates["rensa_prepared_shingles_docs_per_s"], 2),
        "speedup_vs_datasketch": round(rates["warmstart_docs_per_s"] / rates["datasketch_docs_per_s"], 1),
        "cpu_s": {"warmstart": round(ws_cpu, 2), "rensa": round(shingle_cpu + rensa_cpu, 2),
                  "rensa_prepared_shingles": round(rensa_cpu, 2),
                  f"datasketch_{args.datasketch_docs}_docs": round(ds_shingle_cpu + ds_cpu, 2)},
        "cpu_speedup_vs_datasketch": round((ds_shingle_cpu + ds_cpu) / args.datasketch_docs * n / ws_cpu, 1),
        "signature_backends": backends,
        "dropped_full": {"warmstart": int((~ws_kept).sum()), "rensa": int((~rensa_kept).sum())},
        "sample_docs": int(sample.size), "sample_exact_dropped": int((~truth).sum()),
        "accuracy_vs_exact_jaccard": {
            "warmstart": agreement(run_warmstart(as_table(sample_texts), cfg), truth),
            "rensa": agreement(run_rensa(sample_shingles, cfg, bands), truth),
            "datasketch": agreement(run_datasketch(sample_shingles, cfg, bands, rows), truth)},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
