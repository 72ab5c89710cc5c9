"""Sources: reasoning-gym, JSONL, Parquet and local HF datasets into the prompts table; bad input."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.config import FileSource, HFSource, ReasoningGymSource
from flows.sources import load_prompts
from schemas.errors import ConfigError, InputError


def rg(task="chain_sum", count=5, **config):
    return ReasoningGymSource(type="reasoning_gym", task=task, count=count, seed=3, config=config)


def test_reasoning_gym_prompts_keep_answer_and_verifier_metadata():
    table = load_prompts([rg(min_terms=2, max_terms=2)])
    rows = table.to_pylist()
    assert len(rows) == 5
    assert all(r["verifier"] == "reasoning_gym" and r["task"] == "chain_sum" for r in rows)
    assert json.loads(rows[0]["metadata"])["source_dataset"] == "chain_sum"
    assert rows[0]["answer"] is not None
    # Same seed, same ids: a re-run upserts instead of duplicating.
    assert load_prompts([rg(min_terms=2, max_terms=2)]).column("prompt_id").to_pylist() == \
        table.column("prompt_id").to_pylist()


def test_unknown_task_suggests_close_names():
    with pytest.raises(ConfigError, match="unknown reasoning-gym task 'chain_summ'.*chain_sum"):
        load_prompts([rg(task="chain_summ")])


def test_bad_task_settings_name_the_task():
    with pytest.raises(ConfigError, match="chain_sum.*rejects config"):
        load_prompts([rg(bogus=1)])


def write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def jsonl(path, **kw):
    return FileSource(type="jsonl", path=path, prompt_field="question", answer_field="answer", **kw)


def test_jsonl_with_field_mapping(tmp_path):
    path = write_jsonl(tmp_path / "math.jsonl", [json.dumps({"question": "1+1?", "answer": 2, "level": 1}),
                                                 "", json.dumps({"question": "2+2?", "answer": "4"})])
    rows = load_prompts([jsonl(path)]).to_pylist()
    assert [r["prompt"] for r in rows] == ["1+1?", "2+2?"]
    assert rows[0]["answer"] == "2" and rows[0]["task"] == "math" and rows[0]["verifier"] == "math"
    assert json.loads(rows[0]["metadata"]) == {"level": 1}


@pytest.mark.parametrize("lines, pattern", [
    (['{"question": "a", "answer": 1}', '{"question": "b", "answer": '], r"bad\.jsonl:2: malformed JSON"),
    (['{"question": "a", "answer": 1}', '{"prompt": "b", "answer": 1}'], r"bad\.jsonl:2: field 'question': missing"),
    (['{"question": "a"}'], r"bad\.jsonl:1: field 'answer': missing"),
    (['[1, 2]'], r"bad\.jsonl:1: expected a JSON object"),
    (['{"question": "", "answer": 1}'], r"bad\.jsonl:1: field 'question': must be a non-empty string"),
])
def test_bad_jsonl_names_file_line_and_field(tmp_path, lines, pattern):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(InputError, match=pattern):
        load_prompts([jsonl(path)])


def test_invalid_utf8_and_empty_and_missing_files(tmp_path):
    bad = tmp_path / "bin.jsonl"
    bad.write_bytes(b'{"question": "ok", "answer": 1}\n{"question": "\xff"}\n')
    with pytest.raises(InputError, match=r"bin\.jsonl:2: invalid UTF-8"):
        load_prompts([jsonl(bad)])
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.jsonl: no rows"):
        load_prompts([jsonl(empty)])
    with pytest.raises(InputError, match=r"nope\.jsonl: file not found"):
        load_prompts([jsonl(tmp_path / "nope.jsonl")])


def test_parquet_source_and_missing_column(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"question": ["x?", "y?"], "answer": ["1", "2"]}), path)
    src = FileSource(type="parquet", path=path, prompt_field="question", verifier="exact", limit=1)
    assert load_prompts([src]).column("prompt").to_pylist() == ["x?"]
    src = FileSource(type="parquet", path=path, prompt_field="text")
    with pytest.raises(InputError, match=r"p\.parquet: field 'text': missing column"):
        load_prompts([src])
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"junk\.parquet: not a readable Parquet file"):
        load_prompts([FileSource(type="parquet", path=junk)])


def test_local_hf_dataset_from_disk(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"prompt": ["a?", "b?"], "answer": ["1", "2"]}).save_to_disk(tmp_path / "ds")
    rows = load_prompts([HFSource(type="hf", path=tmp_path / "ds", verifier="exact")]).to_pylist()
    assert [r["prompt"] for r in rows] == ["a?", "b?"]
    assert rows[0]["source"] == "hf:ds"


def test_duplicate_prompts_across_sources_are_kept_once(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [json.dumps({"question": "same", "answer": 1})] * 3)
    assert load_prompts([jsonl(path)]).num_rows == 1


def test_data_roots_refuse_paths_outside_them(tmp_path):
    inside = tmp_path / "data"
    inside.mkdir()
    path = write_jsonl(inside / "ok.jsonl", [json.dumps({"question": "q", "answer": 1})])
    assert load_prompts([jsonl(path)], [inside]).num_rows == 1
    outside = write_jsonl(tmp_path / "secret.jsonl", [json.dumps({"question": "q", "answer": 1})])
    with pytest.raises(InputError, match=r"secret\.jsonl: outside the configured data_roots"):
        load_prompts([jsonl(outside)], [inside])
    sneaky = inside / "link.jsonl"
    sneaky.symlink_to(outside)
    with pytest.raises(InputError, match="outside the configured data_roots"):
        load_prompts([jsonl(sneaky)], [inside])
