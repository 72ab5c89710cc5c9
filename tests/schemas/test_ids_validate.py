"""Properties of content ids and of conform(): stable ids, and errors that name table and column."""

import json
import re

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import LakeError
from schemas.ids import canonical_json, content_id
from schemas.tables import MESSAGE, TABLES
from schemas.validate import conform

# Values that defining fields take in practice: text (any unicode), numbers, flags, missing.
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                    st.floats(allow_nan=False))
fields = st.lists(scalars, min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(fields)
def test_content_id_is_stable_and_short_hex(values):
    first = content_id(*values)
    assert first == content_id(*list(values))
    assert re.fullmatch(r"[0-9a-f]{20}", first)


@settings(max_examples=200, deadline=None)
@given(fields, st.data())
def test_content_id_changes_when_any_one_field_changes(values, data):
    position = data.draw(st.integers(0, len(values) - 1), label="position")
    replacement = data.draw(scalars.filter(lambda v: json.dumps(v) != json.dumps(values[position])),
                            label="replacement")
    changed = values[:position] + [replacement] + values[position + 1:]
    assert content_id(*changed) != content_id(*values)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=10), min_size=2, max_size=4, unique=True))
def test_content_id_depends_on_field_order_and_count(values):
    assert content_id(*values) != content_id(*reversed(values))
    assert content_id(*values) != content_id(*values[:-1])
    assert content_id("a b", "c") != content_id("a", "b c")  # no ambiguity from joining


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), scalars, max_size=6))
def test_canonical_json_ignores_key_order_and_round_trips(mapping):
    reordered = dict(reversed(list(mapping.items())))
    assert canonical_json(mapping) == canonical_json(reordered)
    assert content_id(mapping) == content_id(reordered)
    assert json.loads(canonical_json(mapping)) == mapping


def _one_row(table_name: str) -> dict:
    """A valid row for any table: every column set to a value of its type."""
    sample = {pa.string(): "x", pa.int64(): 1, pa.float64(): 0.5, pa.bool_(): True,
              pa.list_(pa.string()): ["a"], pa.list_(MESSAGE): [{"role": "user", "content": "hi"}]}
    row = {}
    for field in TABLES[table_name].schema:
        row[field.name] = (sample[field.type] if field.type in sample
                           else pa.scalar(0, pa.int64()).cast(field.type).as_py())
    return row


COLUMNS = [(name, field.name) for name, spec in TABLES.items() for field in spec.schema
           if field.name != "run_id" and field.name not in spec.optional]
OPTIONAL = [(name, column) for name, spec in TABLES.items() for column in spec.optional]
KEYS = [(name, key) for name, spec in TABLES.items() for key in spec.key]


@pytest.mark.parametrize("table_name", sorted(TABLES))
def test_conform_keeps_schema_and_order_and_drops_extras(table_name):
    row = _one_row(table_name)
    shuffled = dict(reversed(list(row.items())), extra_column="dropped")
    table = conform(table_name, [shuffled])
    assert table.schema.equals(TABLES[table_name].schema)
    assert table.to_pylist() == [row]


@pytest.mark.parametrize(("table_name", "column"), COLUMNS)
def test_conform_names_table_and_missing_column(table_name, column):
    row = _one_row(table_name)
    del row[column]
    with pytest.raises(LakeError, match=f"'{table_name}'.*'{column}'"):
        conform(table_name, [row], run_id="r1")


@pytest.mark.parametrize(("table_name", "column"), OPTIONAL)
def test_conform_stores_a_missing_optional_column_as_null(table_name, column):
    row = _one_row(table_name)
    del row[column]
    assert conform(table_name, [row], run_id="r1").column(column).to_pylist() == [None]


@pytest.mark.parametrize(("table_name", "key"), KEYS)
def test_conform_names_table_and_null_key(table_name, key):
    rows = [_one_row(table_name), _one_row(table_name)]
    rows[1][key] = None
    with pytest.raises(LakeError, match=f"'{table_name}'.*key column '{key}'.*1 null"):
        conform(table_name, rows)


def test_conform_fills_missing_run_id_only_when_given():
    row = _one_row("prompts")
    del row["run_id"]
    assert conform("prompts", [row], run_id="r7").column("run_id").to_pylist() == ["r7"]
    with pytest.raises(LakeError, match="'prompts'.*'run_id'"):
        conform("prompts", [row])


def test_conform_names_column_that_cannot_be_cast():
    row = _one_row("generations") | {"n_tokens": "many"}
    with pytest.raises(LakeError, match="'generations', column 'n_tokens'"):
        conform("generations", [row])


def test_conform_rejects_unknown_table_listing_known_ones():
    with pytest.raises(LakeError, match="unknown table 'nope'.*prompts"):
        conform("nope", [])
