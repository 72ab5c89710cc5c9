"""The verifier audit set and its committed rates: no verifier may get worse, no number may go stale."""

import json
from collections import Counter

import pytest

from benchmarks.verifier_audit import (DOCS_PATH, REQUIRED_CATEGORIES, RESULT_PATH, SET_PATH, audit_rows,
                                       load_cases, render_docs, set_digest, summarize)

FIELDS = {"id", "origin", "category", "verifier", "task", "question", "gold", "metadata", "response",
          "finish_reason", "sample_seed", "correct", "note"}


@pytest.fixture(scope="module")
def cases():
    return load_cases()


@pytest.fixture(scope="module")
def committed():
    return json.loads(RESULT_PATH.read_text())


@pytest.fixture(scope="module")
def current(cases):
    return summarize(cases, audit_rows(cases), SET_PATH)


def test_the_set_is_big_labelled_and_covers_every_trap(cases):
    assert len(cases) >= 500
    assert len({case["id"] for case in cases}) == len(cases)
    assert all(set(case) == FIELDS and isinstance(case["correct"], bool) for case in cases)
    origins = Counter(case["origin"] for case in cases)
    assert origins["real"] >= 300 and origins["adversarial"] >= 200 and set(origins) == {"real", "adversarial"}
    adversarial = Counter(case["category"] for case in cases if case["origin"] == "adversarial")
    for category in REQUIRED_CATEGORIES:  # each trap with right and wrong answers
        labels = {case["correct"] for case in cases if case["category"] == category}
        assert adversarial[category] >= 5 and (labels == {True, False} or category == "empty_answer"), category


def test_the_committed_rates_are_for_this_set(committed):
    assert committed["set"]["sha256"] == set_digest(), \
        "tests/data/verifier_audit.jsonl changed: rerun python benchmarks/verifier_audit.py --write-docs"


@pytest.mark.parametrize("key", ["by_verifier", "by_verifier_own_cases"])
def test_no_verifier_gets_worse(current, committed, key):
    worse = []
    for name, old in committed[key].items():
        new = current[key][name]
        for rate in ("fp_rate", "fn_rate"):
            if old[rate] is not None and new[rate] > old[rate]:
                worse.append(f"{name} {rate}: {old[rate]} -> {new[rate]}")
    assert not worse, "; ".join(worse)
    assert set(current[key]) == set(committed[key])


def test_the_published_page_is_generated_from_the_committed_result(cases, committed):
    assert DOCS_PATH.read_text() == render_docs(committed, cases), \
        "docs/verifier_audit.md is stale: rerun python benchmarks/verifier_audit.py --write-docs"
