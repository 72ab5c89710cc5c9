"""Synthetic inputs of benchmarks/scaling.py, built with numpy and Arrow (no per-row Python):
prompts of realistic lengths with copies and near-copies and a few eval items, and the
generations / verdicts / prompt_stats / skill tables that building the splits reads.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.difficulty import DifficultyConfig, rates
from schemas.tables import TABLES

VOCAB_SIZE = 20_000
TASKS = ("chain_sum", "gcd", "letter_counting", "basic_arithmetic", "syllogism", "countdown", "leg_counting",
         "propositional_logic")
PROMPT_TOKENS = (4.0, 0.6)  # lognormal (mu, sigma) of prompt length: median ~55 words and symbols
RESPONSE_TOKENS = (4.3, 0.5)  # median ~75 tokens; responses come from a pool (RESPONSE_POOL distinct)
RESPONSE_POOL = 50_000
NEAR_EDIT_SHARE = 0.05  # a near-copy changes this share of its tokens
CONTAMINATION = 0.001  # share of prompts replaced by a bundled eval item


def vocabulary(rng: np.random.Generator) -> pa.Array:
    """Pseudo-words of 2-9 letters, numbers 0-999 and a few symbols, most frequent first."""
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    sizes = rng.integers(2, 10, VOCAB_SIZE - 1010)
    flat = letters[rng.integers(0, 26, int(sizes.sum()))]
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int32)
    words = pa.StringArray.from_buffers(len(sizes), pa.py_buffer(offsets), pa.py_buffer(flat.tobytes()))
    symbols = pa.array([".", ",", "?", ":", "+", "-", "=", "(", ")", "*"])
    numbers = pc.cast(pa.array(np.arange(1000)), pa.string())
    return pa.concat_arrays([symbols, words.slice(0, 200), numbers, words.slice(200)])


def zipf_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """Token ids with Zipf-like frequencies (common words make n-grams and shingles collide)."""
    weights = 1.0 / (np.arange(VOCAB_SIZE) + 20.0)
    return np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(count)).astype(np.int32)


def join_tokens(vocab: pa.Array, ids: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """One space-joined text per length, from consecutive token ids."""
    offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int32))
    return pc.binary_join(pa.ListArray.from_arrays(offsets, vocab.take(pa.array(ids))), " ")


def prompt_texts(n: int, seed: int, duplicate_share: float, eval_texts: list[str]) -> pa.Array:
    """n prompts; `duplicate_share` of them copy an earlier one (half exactly, half with 5% of
    tokens changed) and CONTAMINATION of them are eval items."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(*PROMPT_TOKENS, n), 5, 600).astype(np.int64)
    copies = np.flatnonzero(rng.random(n) < duplicate_share)
    originals = np.setdiff1d(np.arange(n), copies)
    source = originals[rng.integers(0, originals.size, copies.size)] if originals.size else copies
    lengths[copies] = lengths[source]
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    ids = zipf_ids(rng, int(lengths.sum()))
    sizes = lengths[copies]
    within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    target, origin = np.repeat(starts[copies], sizes) + within, np.repeat(starts[source], sizes) + within
    ids[target] = ids[origin]
    near = np.repeat(rng.random(copies.size) < 0.5, sizes) & (rng.random(target.size) < NEAR_EDIT_SHARE)
    ids[target[near]] = zipf_ids(rng, int(near.sum()))
    texts = join_tokens(vocabulary(rng), ids, lengths)
    leaked = rng.random(n) < CONTAMINATION
    if leaked.any() and eval_texts:
        chosen = pa.array([eval_texts[i] for i in rng.integers(0, len(eval_texts), int(leaked.sum()))])
        texts = pc.replace_with_mask(texts, pa.array(leaked), chosen)
    return texts


def numbered(prefix: str, n: int) -> pa.Array:
    """prefix0, prefix1, ... as Arrow strings."""
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(np.arange(n)), pa.string()), "")


def constant(value: str, n: int) -> pa.Array:
    """The same string n times."""
    return pa.array(np.full(n, value, dtype=object), pa.string())


def prompts_table(texts: pa.Array, seed: int) -> pa.Table:
    """A prompts table (lake schema) around the texts."""
    n = len(texts)
    tasks = pa.array(np.asarray(TASKS, dtype=object)[np.random.default_rng(seed).integers(0, len(TASKS), n)])
    guard = pa.array(np.where(np.arange(n) % 100 == 99, "eval", "train"))
    columns = {"prompt_id": numbered("p", n), "source": constant("synthetic", n), "task": tasks, "prompt": texts,
               "answer": constant("42", n), "verifier": constant("math", n), "metadata": constant("{}", n),
               "split_guard": guard, "run_id": constant("", n)}
    return pa.table(columns, schema=TABLES["prompts"].schema)


def split_inputs(n_rows: int, k: int, seed: int) -> dict[str, pa.Table]:
    """prompts, generations and verdicts of n_rows samples (k per prompt), and prompt_stats."""
    rng = np.random.default_rng(seed)
    n_prompts = max(1, n_rows // k)
    n_rows = n_prompts * k
    prompts = prompts_table(prompt_texts(n_prompts, seed, 0.0, []), seed)
    pool_lengths = np.clip(rng.lognormal(*RESPONSE_TOKENS, RESPONSE_POOL), 3, 800).astype(np.int64)
    pool = join_tokens(vocabulary(rng), zipf_ids(rng, int(pool_lengths.sum())), pool_lengths)
    pick = rng.integers(0, RESPONSE_POOL, n_rows)
    prompt_of = np.repeat(np.arange(n_prompts), k)
    prompt_ids = prompts.column("prompt_id").combine_chunks().take(pa.array(prompt_of))
    generation_ids = numbered("g", n_rows)
    truncated = rng.random(n_rows) < 0.05
    generations = pa.table({
        "generation_id": generation_ids, "prompt_id": prompt_ids, "model": constant("m", n_rows),
        "sampling": constant("{}", n_rows), "sample_index": pa.array(np.tile(np.arange(k), n_prompts)),
        "response": _chunked_take(pool, pick), "n_tokens": pa.array(pool_lengths[pick]),
        "finish_reason": pa.array(np.where(truncated, "length", "stop")),
        "model_fingerprint": constant("f", n_rows), "chat_template": constant("t", n_rows),
        "prompt_format": constant("p", n_rows), "seed": pa.array(np.arange(n_rows, dtype=np.int64)),
        "run_id": constant("", n_rows)}, schema=TABLES["generations"].schema)
    pass_prob = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], n_prompts)
    correct = rng.random(n_rows) < pass_prob[prompt_of]
    verdicts = pa.table({
        "generation_id": generation_ids, "prompt_id": prompt_ids, "verifier": constant("math", n_rows),
        "extracted": constant("42", n_rows), "correct": pa.array(correct), "score": pa.array(correct.astype(float)),
        "detail": constant("", n_rows), "run_id": constant("", n_rows)}, schema=TABLES["verdicts"].schema)
    stats = _stats(prompts.column("prompt_id").combine_chunks(), np.bincount(prompt_of, correct, n_prompts), k,
                   pool_lengths[pick].reshape(n_prompts, k).mean(axis=1))
    return {"prompts": prompts, "generations": generations, "verdicts": verdicts, "stats": stats}


def _chunked_take(values: pa.Array, indices: np.ndarray, chunk: int = 1_000_000) -> pa.ChunkedArray:
    """values.take(indices) as chunks: one string array may hold at most 2 GiB of text."""
    return pa.chunked_array([values.take(pa.array(indices[s:s + chunk])) for s in range(0, indices.size, chunk)],
                            values.type)


def _stats(prompt_ids: pa.Array, n_correct: np.ndarray, k: int, mean_tokens: np.ndarray) -> pa.Table:
    """prompt_stats rows as curation/difficulty.py would write them (Wilson interval, bucket)."""
    n = len(prompt_ids)
    measured = rates(n_correct.astype(np.int64), np.full(n, k), DifficultyConfig())
    schema = pa.schema([f for f in TABLES["prompt_stats"].schema])
    return pa.table({"prompt_id": prompt_ids, "model": constant("m", n),
                     **{name: pa.array(values) for name, values in measured.items()},
                     "mean_tokens": pa.array(mean_tokens), "run_id": constant("", n)}, schema=schema)


class HashingEmbedder:
    """A stand-in for MiniLM in smoke runs: unit vectors from hashed tokens (no model)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        from curation.text_stats import token_hashes

        hashes, lengths = token_hashes(texts)
        rows = np.repeat(np.arange(len(texts)), lengths)
        out = np.zeros((len(texts), 384), np.float32)
        np.add.at(out, (rows, (hashes % np.uint64(384)).astype(np.int64)), 1.0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)
