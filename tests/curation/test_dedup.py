"""Exact and near-duplicate removal: kept rows, reasons in filter_log shape, cluster ids."""

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.dedup import DEDUP_CLUSTERS_SPEC, ExactDedupConfig, NearDupConfig, exact_dedup, near_dedup
from schemas.errors import InputError
from schemas.tables import spec
from schemas.validate import conform

LONG = ("To find the greatest common divisor of twelve and eighteen we list the divisors of each "
        "number and take the largest one they share, which gives six as the final result here")


def prompts(texts, groups=None):
    columns = {"prompt_id": [f"p{i}" for i in range(len(texts))], "prompt": texts}
    if groups is not None:
        columns["group"] = groups
    return pa.table(columns)


def kept_ids(result):
    return result.kept.column("prompt_id").to_pylist()


def test_exact_dedup_normalizes_case_width_and_whitespace():
    table = prompts(["What is 2+2?", "what  is 2+2?  ", "ＷＨＡＴ is 2+2?", "What is 2+2", "", ""])
    result = exact_dedup(table, ExactDedupConfig())
    assert kept_ids(result) == ["p0", "p3", "p4", "p5"]  # punctuation counts; empty texts never cluster
    assert result.dropped.column_names == [f.name for f in spec("filter_log").schema][:4]
    assert set(result.dropped.column("reason").to_pylist()) == {"exact duplicate of p0 (normalized prompt)"}
    assert result.dropped.column("step").to_pylist() == ["exact_dedup"] * 2
    clusters = result.side["dedup_clusters"].to_pylist()
    assert {(c["record_id"], c["cluster_id"]) for c in clusters} == {("p0", "p0"), ("p1", "p0"), ("p2", "p0")}
    stripped = exact_dedup(table, ExactDedupConfig(strip_punctuation=True))
    assert kept_ids(stripped) == ["p0", "p4", "p5"]


def test_exact_dedup_keep_policy_and_groups():
    table = prompts(["Same text", "same text", "SAME TEXT"], groups=["a", "b", "a"])
    assert kept_ids(exact_dedup(table, ExactDedupConfig(), group_column="group")) == ["p0", "p1"]
    table = pa.table({"prompt_id": ["x", "y"], "prompt": ["a  b", "a b"]})
    longest = exact_dedup(table, ExactDedupConfig(keep="longest"))
    assert longest.kept.column("prompt_id").to_pylist() == ["x"]
    assert longest.side["dedup_clusters"].column("cluster_id").to_pylist() == ["x", "x"]


def test_near_dedup_drops_edited_copies_and_keeps_distinct_texts():
    edited = LONG.replace("largest", "biggest")
    table = prompts([LONG, edited, "A completely unrelated question about counting the legs of three spiders",
                     LONG.upper()])
    result = near_dedup(table, NearDupConfig(threshold=0.7))
    assert kept_ids(result) == ["p0", "p2"]
    reasons = dict(zip(result.dropped.column("record_id").to_pylist(), result.dropped.column("reason").to_pylist()))
    assert reasons["p1"].startswith("near-duplicate of p0 (estimated jaccard 0.")
    assert reasons["p3"].startswith("near-duplicate of p0 (estimated jaccard 1.00")
    clusters = {r["record_id"]: r["cluster_id"] for r in result.side["dedup_clusters"].to_pylist()}
    assert clusters == {"p0": "p0", "p1": "p0", "p3": "p0"}
    conform(DEDUP_CLUSTERS_SPEC.name, result.side["dedup_clusters"], run_id="r1")  # fits the registered lake table


def test_near_dedup_threshold_decides():
    words = LONG.split()
    half_changed = " ".join(w if i % 4 else "zz" for i, w in enumerate(words))  # Jaccard ~0.1 at 5-grams
    table = prompts([LONG, half_changed])
    assert kept_ids(near_dedup(table, NearDupConfig())) == ["p0", "p1"]
    assert kept_ids(near_dedup(table, NearDupConfig(shingle_size=1, threshold=0.5))) == ["p0"]


def test_near_dedup_within_groups_keep_longest_and_determinism():
    table = prompts([LONG, LONG + " indeed", LONG], groups=["a", "a", "b"])
    result = near_dedup(table, NearDupConfig(keep="longest"), group_column="group")
    assert kept_ids(result) == ["p1", "p2"]
    again = near_dedup(table, NearDupConfig(keep="longest"), group_column="group")
    assert result.dropped.equals(again.dropped) and result.side["dedup_clusters"].equals(again.side["dedup_clusters"])


def test_near_dedup_agrees_with_exact_jaccard_on_a_noisy_corpus():
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(400)]
    texts, bases = [], [list(rng.choice(vocab, size=60)) for _ in range(60)]
    for base in bases:
        texts.append(" ".join(base))
        for _ in range(2):
            copy = list(base)
            for _ in range(int(rng.integers(0, 6))):
                copy[int(rng.integers(len(copy)))] = str(rng.choice(vocab))
            texts.append(" ".join(copy))
    cfg = NearDupConfig(shingle_size=3, threshold=0.7)
    kept = set(kept_ids(near_dedup(prompts(texts), cfg)))
    everything = {f"p{i}" for i in range(len(texts))}
    dropped, true_dropped = everything - kept, everything - exact_reference(texts, 3, 0.7)
    assert len(true_dropped) > 30
    assert len(dropped & true_dropped) / len(dropped) >= 0.95
    assert len(dropped & true_dropped) / len(true_dropped) >= 0.95


def test_near_dedup_sketches_in_chunks_like_one_pass(monkeypatch):
    from curation import dedup

    rng = np.random.default_rng(5)
    bases = [" ".join(rng.choice([f"w{i}" for i in range(300)], size=40)) for _ in range(30)]
    texts = [b for b in bases for _ in range(2)] + [b + " extra tail" for b in bases]
    cfg = NearDupConfig(shingle_size=3, threshold=0.7)
    whole = near_dedup(prompts(texts), cfg)
    monkeypatch.setattr(dedup, "SIGNATURE_CHUNK", 7)
    chunked = near_dedup(prompts(texts), cfg)
    assert chunked.dropped.to_pylist() == whole.dropped.to_pylist() and whole.dropped.num_rows >= 30
    assert chunked.side["dedup_clusters"].to_pylist() == whole.side["dedup_clusters"].to_pylist()


def exact_reference(texts, k, threshold):
    """Keep-first dedup over components of pairs with exact shingle Jaccard >= threshold."""
    sets = [{tuple(t.split()[i:i + k]) for i in range(len(t.split()) - k + 1)} for t in texts]
    parent = list(range(len(texts)))
    for a in range(len(texts)):
        for b in range(a + 1, len(texts)):
            if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= threshold:
                ra, rb = a, b
                while parent[ra] != ra:
                    ra = parent[ra]
                while parent[rb] != rb:
                    rb = parent[rb]
                parent[max(ra, rb)] = min(ra, rb)
    return {f"p{i}" for i in range(len(texts)) if parent[i] == i}


@pytest.mark.parametrize("bad", [{"threshold": 1.5}, {"threshold": 0}, {"num_perm": 4},
                                 {"num_bands": 300, "num_perm": 128}, {"shingle_size": 0}, {"shingles": 3}])
def test_bad_near_dup_configs_are_rejected(bad):
    with pytest.raises(ValidationError):
        NearDupConfig(**bad)


def test_missing_column_is_an_input_error():
    with pytest.raises(InputError, match="no column 'response'"):
        near_dedup(prompts(["x"]), NearDupConfig(), text_column="response")
    with pytest.raises(ValidationError):
        ExactDedupConfig(keep="random")
