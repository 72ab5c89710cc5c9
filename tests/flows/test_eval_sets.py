"""Eval-set loading for decontamination: bundled sets, user files, and errors naming file and line."""

import importlib.util
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.eval_sets import bundled_dir, load_eval_sets
from schemas.errors import InputError

TASKS = {"chain_sum", "gcd", "letter_counting", "basic_arithmetic", "syllogism", "propositional_logic",
         "leg_counting", "countdown"}


def test_bundled_sets_are_small_and_complete():
    eval_sets = load_eval_sets(["bundled"])
    assert set(eval_sets) == TASKS
    assert all(len(texts) == 50 for texts in eval_sets.values())
    assert sum(p.stat().st_size for p in bundled_dir().glob("*.jsonl")) < 200_000
    record = json.loads((bundled_dir() / "gcd.jsonl").read_text().splitlines()[0])
    assert set(record) == {"question", "answer", "metadata", "task"} and record["task"] == "gcd"


def test_bundled_sets_regenerate_identically():
    path = bundled_dir() / "make_eval_sets.py"
    module_spec = importlib.util.spec_from_file_location("make_eval_sets", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    offset = list(module.EASY_CONFIGS).index("gcd")
    records = module.eval_records("gcd", 50, module.EVAL_SEED + offset)
    bundled = [json.loads(line) for line in (bundled_dir() / "gcd.jsonl").read_text().splitlines()]
    assert [r["question"] for r in records] == [r["question"] for r in bundled]


def test_user_files_folders_and_field_names(tmp_path):
    (tmp_path / "mine.jsonl").write_text('{"prompt": "What is 2+2?"}\n\n{"question": "And 3+3?"}\n')
    pq.write_table(pa.table({"question": ["Q1", "Q2"]}), tmp_path / "theirs.parquet")
    assert load_eval_sets([tmp_path / "mine.jsonl"]) == {"mine": ["What is 2+2?", "And 3+3?"]}
    assert load_eval_sets([str(tmp_path)]) == {"mine": ["What is 2+2?", "And 3+3?"], "theirs": ["Q1", "Q2"]}


@pytest.mark.parametrize("content, message", [
    ('{"question": "ok"}\n{"question": "broken"\n', r"bad\.jsonl:2: malformed JSON"),
    ('{"question": "ok"}\n{"text": "no field"}\n', r"bad\.jsonl:2: needs a 'question' or 'prompt' field \(fields: text\)"),
    ('{"question": 42}\n', r"bad\.jsonl:1: field 'question': must be a non-empty string"),
    ('["a list"]\n', r"bad\.jsonl:1: expected a JSON object"),
    ("\n\n", r"bad\.jsonl: eval set has no records"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_eval_sets([path])


def test_bad_sources(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_eval_sets([tmp_path / "missing.jsonl"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="must be .jsonl or .parquet"):
        load_eval_sets([tmp_path / "notes.txt"])
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"fake\.parquet: not a readable Parquet file"):
        load_eval_sets([tmp_path / "fake.parquet"])
    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "cols.parquet")
    with pytest.raises(InputError, match="needs a 'question' or 'prompt' column"):
        load_eval_sets([tmp_path / "cols.parquet"])
    (tmp_path / "gcd.jsonl").write_text('{"question": "x"}\n')
    with pytest.raises(InputError, match="benchmark 'gcd' is also defined by"):
        load_eval_sets(["bundled", tmp_path / "gcd.jsonl"])
