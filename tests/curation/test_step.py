"""The step contract: keep_rows turns per-row reasons into kept rows and filter_log rows."""

import pyarrow as pa
import pytest

from curation.step import DROP_LOG_SCHEMA, StepResult, drop_log, keep_rows
from schemas.tables import step_schema


def test_keep_rows_logs_one_row_per_failed_check_and_keeps_the_rest():
    table = pa.table({"id": ["a", "b", "c"], "text": ["ok", "short", "bad and short"]})
    result = keep_rows(table, {"demo.bad": [None, None, "says bad"], "demo.short": [None, "too short", "too short"]},
                       id_column="id", table_name="things")
    assert isinstance(result, StepResult) and result.side == {}
    assert result.kept.column("id").to_pylist() == ["a"]
    assert result.dropped.to_pylist() == [
        {"record_id": "c", "table_name": "things", "step": "demo.bad", "reason": "says bad"},
        {"record_id": "b", "table_name": "things", "step": "demo.short", "reason": "too short"},
        {"record_id": "c", "table_name": "things", "step": "demo.short", "reason": "too short"}]


def test_drop_log_has_the_lake_schema_and_empty_steps_are_well_formed():
    assert DROP_LOG_SCHEMA == step_schema("filter_log")
    assert drop_log([("x", "why")], "prompts", "s").schema == DROP_LOG_SCHEMA
    nothing = keep_rows(pa.table({"id": ["a"]}), {}, id_column="id", table_name="prompts")
    assert nothing.kept.num_rows == 1 and nothing.dropped.schema == DROP_LOG_SCHEMA and nothing.dropped.num_rows == 0


def test_a_check_must_answer_for_every_row():
    with pytest.raises(ValueError, match="1 answers for 2 rows"):
        keep_rows(pa.table({"id": ["a", "b"]}), {"s": [None]}, id_column="id", table_name="t")
