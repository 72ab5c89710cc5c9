"""Properties of the lake under any sequence of upserts and re-runs: no duplicate ids, exact round-trip.

Every lake commit costs a few hundred milliseconds, so one lake serves the whole module and each
hypothesis example writes under its own key prefix; example counts stay small. Properties of
content ids and conform() alone (no lake) are in tests/schemas/test_ids_validate.py.
"""

import itertools
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.lake import Lake
from schemas.tables import TABLES

# Tables that together cover every column type: list<struct> messages, list<string>, timestamps,
# bool, float, int, composite keys.
TABLE_NAMES = ["sft_examples", "runs", "verdicts", "splits", "prompts"]
KEY_POOL = ["k0", "k1", "k2"]  # a small pool, so commits collide on keys and must upsert
_example_ids = itertools.count()

texts = st.text(max_size=12)  # any unicode, NUL included
timestamps = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                          timezones=st.just(timezone.utc))


def value_strategy(arrow_type: pa.DataType):
    """Values of one column type, null included."""
    if arrow_type == pa.string():
        inner = texts
    elif arrow_type == pa.int64():
        inner = st.integers(-2**63, 2**63 - 1)
    elif arrow_type == pa.float64():
        inner = st.floats(allow_nan=False)
    elif arrow_type == pa.bool_():
        inner = st.booleans()
    elif pa.types.is_timestamp(arrow_type):
        inner = timestamps
    elif pa.types.is_list(arrow_type):
        inner = st.lists(value_strategy(arrow_type.value_type), max_size=3)
    elif pa.types.is_struct(arrow_type):
        inner = st.fixed_dictionaries({f.name: value_strategy(f.type) for f in arrow_type})
    else:
        raise AssertionError(f"no strategy for {arrow_type}")
    return st.none() | inner


@st.composite
def batches(draw, table_name: str, prefix: str):
    """Rows of one table with distinct keys drawn from a small pool under `prefix`."""
    spec = TABLES[table_name]
    key_values = {"version": st.integers(0, 2)}
    rows = {}
    for _ in range(draw(st.integers(0, 4))):
        row = {f.name: draw(value_strategy(f.type)) for f in spec.schema}
        for key in spec.key:
            row[key] = draw(key_values.get(key, st.sampled_from(KEY_POOL).map(lambda k: prefix + k)))
        rows[tuple(row[k] for k in spec.key)] = row
    return list(rows.values())


@st.composite
def commit_sequences(draw, prefix: str):
    """One or two commits over one to three tables, then a re-run of the first commit."""
    names = draw(st.lists(st.sampled_from(TABLE_NAMES), min_size=1, max_size=3, unique=True))
    commits = [{name: draw(batches(name, prefix)) for name in names}
               for _ in range(draw(st.integers(1, 2)))]
    return commits + [commits[0]]


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp("props") / "lake")
    lake.ensure()
    return lake


def _read_prefixed(lake: Lake, name: str, prefix: str) -> pa.Table:
    first_key = TABLES[name].key[0]
    return lake.read(name, where=f"starts_with({first_key}, '{prefix}')")


def _by_key(rows: list[dict], name: str) -> list[dict]:
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in TABLES[name].key))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_upserts_and_reruns_round_trip_without_duplicates(shared_lake, data):
    prefix = f"ex{next(_example_ids)}-"
    commits = data.draw(commit_sequences(prefix), label="commits")
    expected: dict[str, dict] = {}
    version = shared_lake.latest_version()
    for commit in commits:
        previous, version = version, shared_lake.commit(commit, run_id="prop")
        # One snapshot per commit that has rows; a commit of empty tables changes nothing.
        assert version > previous if any(commit.values()) else version == previous
        for name, rows in commit.items():
            for row in rows:  # last write wins for each key
                expected.setdefault(name, {})[tuple(row[k] for k in TABLES[name].key)] = row
    for name, by_key in expected.items():
        read = _read_prefixed(shared_lake, name, prefix)
        assert read.column_names == TABLES[name].schema.names
        keys = [tuple(r[k] for k in TABLES[name].key) for r in read.to_pylist()]
        assert len(keys) == len(set(keys)), f"duplicate ids in {name}"
        # Python compares aware datetimes as instants, so a different zone name still matches.
        assert _by_key(read.to_pylist(), name) == _by_key(list(by_key.values()), name)


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_read_types_match_schema_except_timestamp_zone(shared_lake, name):
    """Types survive the lake (list<struct>, list<string>, bool, float, int); see the zone test."""
    row = {f.name: None for f in TABLES[name].schema} | {k: f"types-{k}" for k in TABLES[name].key}
    if "version" in TABLES[name].key:
        row["version"] = 0
    shared_lake.commit({name: [row]}, run_id="types")
    read = _read_prefixed(shared_lake, name, "types-")
    for field in TABLES[name].schema:
        got = read.schema.field(field.name).type
        if pa.types.is_timestamp(field.type):
            assert pa.types.is_timestamp(got) and got.unit == field.type.unit and got.tz
        else:
            assert got.equals(field.type), f"{name}.{field.name}: {got} != {field.type}"


def test_timestamps_read_back_in_utc(shared_lake):
    started = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    shared_lake.commit({"runs": [{"run_id": "tz-1", "kind": "curate", "config": "{}",
                                  "started": started, "finished": None, "status": "ok",
                                  "parent_run_id": None, "detail": None}]})
    read = _read_prefixed(shared_lake, "runs", "tz-")
    assert read.schema.field("started").type == pa.timestamp("us", tz="UTC")


def test_duplicate_keys_within_one_commit_keep_the_last_row(shared_lake):
    rows = [{"run_id": "dup-run", "step": 1, "metric": "loss", "value": float(v)} for v in range(5)]
    shared_lake.commit({"train_metrics": rows})
    shared_lake.commit({"train_metrics": rows})
    read = _read_prefixed(shared_lake, "train_metrics", "dup-")
    assert read.num_rows == 1
    assert read.column("value")[0].as_py() == rows[-1]["value"]
