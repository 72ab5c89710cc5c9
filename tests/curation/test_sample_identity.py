"""Why a needed sample was not in the lake: the parts of its identity that differ, or none there."""

import pyarrow as pa

from curation.backends.base import Sampling
from curation.prompt_format import PromptFormat
from curation.sample_identity import (NEVER_SAMPLED, PREDATES_IDENTITY, TEXT_CHANGED, SampleIdentity,
                                      predating_identity, request_seed, why_regenerated)

NOW = SampleIdentity("weights", "template", PromptFormat().fingerprint(), Sampling().record())


def earlier(rows: list[tuple[str, int, dict | None]]) -> pa.Table:
    """(prompt_id, sample_index, identity columns or None for a row that predates identity)."""
    names = list(NOW.columns())
    return pa.Table.from_pylist([{"prompt_id": pid, "sample_index": i, **(ident or dict.fromkeys(names))}
                                 for pid, i, ident in rows],
                                schema=pa.schema([("prompt_id", pa.string()), ("sample_index", pa.int64()),
                                                  *[(n, pa.string()) for n in names]]))


def test_each_changed_part_is_named():
    old_format = {**NOW.columns(), "prompt_format": PromptFormat(suffix="!").fingerprint()}
    other_model = {**NOW.columns(), "model_fingerprint": "other", "chat_template": "other"}
    table = earlier([("a", 0, old_format), ("b", 0, other_model), ("c", 0, None), ("d", 0, NOW.columns()),
                     ("a", 1, old_format)])
    reasons = why_regenerated(table, NOW, [("a", 0), ("a", 1), ("b", 0), ("c", 0), ("d", 0), ("e", 0)])
    assert reasons == {"changed: prompt format": 2, "changed: model (weights, config or tokenizer), chat template": 1,
                       PREDATES_IDENTITY: 1, TEXT_CHANGED: 1, NEVER_SAMPLED: 1}
    assert predating_identity(table) == 1


def test_the_closest_earlier_sample_explains():
    close = {**NOW.columns(), "sampling": Sampling(temperature=0.1).record()}
    far = {**close, "prompt_format": "x"}
    reasons = why_regenerated(earlier([("a", 0, far), ("a", 0, close), ("a", 0, None)]), NOW, [("a", 0)])
    assert reasons == {"changed: sampling settings": 1}


def test_request_seed_is_stable_and_fits_every_engine():
    gid = NOW.generation_id("p", "text", 0)
    assert request_seed(gid) == request_seed(gid) and 0 <= request_seed(gid) < 2**31
    assert request_seed(gid) != request_seed(NOW.generation_id("p", "text", 1))
