"""Trace tags: counts of backtracking, self-verification and restarts, and filters on them."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.traces import TRACE_TAGS_SPEC, TraceFilterConfig, TraceTagConfig, trace_filter, trace_tags
from schemas.tables import spec
from schemas.validate import conform

TRACE = ("First, 3 * 4 = 12. Wait, the question asks for 3 + 4. Hmm, let me re-check: 3 + 4 = 7. "
         "Let me verify by counting up from 3. Check: 4, 5, 6, 7. That is wrong? No, that is right. "
         "Let me start over to be sure. Alternatively, 4 + 3 = 7. Answer: 7")


def generations(responses, n_tokens=None):
    columns = {"generation_id": [f"g{i}" for i in range(len(responses))], "response": responses}
    if n_tokens is not None:
        columns["n_tokens"] = pa.array(n_tokens, pa.int64())
    return pa.table(columns)


def test_tags_count_each_marker_kind():
    tags = trace_tags(generations([TRACE, "Answer: 7", "", None]), TraceTagConfig()).to_pylist()
    assert tags[0]["backtracks"] == 5  # wait, hmm, let me re-check, that is wrong, no, that
    assert tags[0]["self_checks"] == 2  # let me verify, check:
    assert tags[0]["restarts"] == 2  # let me start over, alternatively,
    assert tags[0]["n_chars"] == len(TRACE) and tags[0]["n_tokens"] > 50
    assert [t["backtracks"] + t["self_checks"] + t["restarts"] for t in tags[1:]] == [0, 0, 0]
    assert [t["n_chars"] for t in tags[1:]] == [9, 0, 0]


def test_recorded_token_counts_win_and_markers_are_configurable():
    table = generations(["wait wait", "no markers"], n_tokens=[120, None])
    tags = trace_tags(table, TraceTagConfig(backtrack_markers=[r"\bwait\b"], restart_markers=[]))
    assert tags.column("n_tokens").to_pylist() == [120, 2]
    assert tags.column("backtracks").to_pylist() == [2, 0]
    assert tags.column("restarts").to_pylist() == [0, 0]


def test_trace_tags_table_is_registered_for_the_lake():
    tags = trace_tags(generations([TRACE]), TraceTagConfig())
    assert spec("trace_tags") is TRACE_TAGS_SPEC and TRACE_TAGS_SPEC.key == ("generation_id",)
    assert conform("trace_tags", tags, run_id="r1").column("run_id").to_pylist() == ["r1"]


def test_trace_filter_keeps_traces_within_bounds():
    table = generations([TRACE, "Answer: 7", "Wait. " * 9 + "Answer: 7"])
    tags = trace_tags(table, TraceTagConfig())
    result = trace_filter(table, TraceFilterConfig(min_backtracks=1, max_backtracks=5), tags=tags)
    kept, drops = result.kept, result.dropped
    assert kept.column("generation_id").to_pylist() == ["g0"]
    assert dict(zip(drops.column("record_id").to_pylist(), drops.column("reason").to_pylist())) == {
        "g1": "backtracks 0 < min 1", "g2": "backtracks 9 > max 5"}
    assert set(drops.column("step").to_pylist()) == {"trace.backtracks"}
    untagged = trace_filter(table, TraceFilterConfig(min_backtracks=1), tags=tags.slice(0, 1))
    assert untagged.kept.num_rows == 3  # rows without tags are not judged


@pytest.mark.parametrize("bad", [{"backtrack_markers": ["(wait"]}, {"restarts": []}])
def test_bad_tag_configs_are_rejected(bad):
    with pytest.raises(ValidationError):
        TraceTagConfig(**bad)
    with pytest.raises(ValidationError):
        TraceFilterConfig(min_backtracks=-1)


def test_tags_commit_and_filter_with_sql(lake):
    table = generations([TRACE, "Answer: 7"])
    lake.commit({"trace_tags": trace_tags(table, TraceTagConfig())}, run_id="run-1")
    rows = lake.query("SELECT generation_id FROM trace_tags WHERE backtracks > 0").to_pylist()
    assert rows == [{"generation_id": "g0"}]
