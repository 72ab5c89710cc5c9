"""A corpus of bad inputs through the CLI: each is one line naming the culprit, the exact error
class, its exit code, and a lake left exactly as it was (same snapshot, same rows).

`warmstart run` cases fail while reading sources or resolving the model, before any engine loads.
"""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli import main
from schemas.errors import ConfigError, InputError, LakeError, ModelError, SplitError
from schemas.lake import Lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A small lake with a few committed rows, shared by the module: no case may change it."""
    lake = Lake(tmp_path_factory.mktemp("bad-inputs") / "lake")
    lake.commit({"prompts": [{"prompt_id": f"p{i}", "source": "test", "task": "t", "prompt": f"q{i}",
                              "answer": str(i), "verifier": "exact", "metadata": "{}", "split_guard": "train"}
                             for i in range(5)],
                 "train_metrics": [{"run_id": "r", "step": i, "metric": "loss", "value": 1.0 / (i + 1)}
                                   for i in range(5)]}, run_id="setup")
    return lake


def lake_state(lake: Lake) -> tuple:
    """Snapshots, every file under the lake directory, and the committed rows (one connection).

    Any commit adds a snapshot; the file list also catches a write that never reached the catalog.
    """
    files = sorted((str(p.relative_to(lake.location)), p.stat().st_size)
                   for p in Path(lake.location).rglob("*") if p.is_file() and not p.name.endswith(".wal"))
    with lake.connect() as con:
        snapshots = con.execute("SELECT max(snapshot_id), count(*) FROM ducklake_snapshots('lake')").fetchone()
        rows = con.execute("SELECT 'prompts', prompt_id, prompt, answer FROM prompts UNION ALL "
                           "SELECT 'train_metrics', run_id, step::VARCHAR, value::VARCHAR FROM train_metrics "
                           "ORDER BY ALL").fetchall()
    return snapshots, files, rows


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def expect_failure(argv: list[str], error: type, code: int, culprit: str, lake: Lake, capsys) -> None:
    """The exit code, one line `error: ...` naming the culprit, the exact class, an unchanged lake."""
    before = lake_state(lake)
    exit_code, err = run_cli(argv, capsys)
    assert exit_code == code, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert culprit in err, err
    with pytest.raises(error) as raised:  # --debug re-raises: check the exact class
        main(["--debug", *argv])
    assert type(raised.value) is error
    assert lake_state(lake) == before


def write_config(tmp_path, lake: Lake, body: str) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(f"lake: {lake.location}\nbackend: transformers\ndecontam: null\n{body}", encoding="utf-8")
    return str(path)


def file_source(path, kind: str = "jsonl") -> str:
    return f"sources: [{{type: {kind}, path: {path}}}]\n"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict:
    """One file per kind of bad data input."""
    tmp_path = tmp_path_factory.mktemp("bad-files")
    good = json.dumps({"prompt": "What is 2 + 2?", "answer": "4"})
    files = {
        "truncated.jsonl": (good + "\n" + good[:17]).encode(),
        "wrong_type.jsonl": (good + "\n" + json.dumps({"prompt": 12345, "answer": "4"}) + "\n").encode(),
        "not_object.jsonl": (good + "\n" + "[1, 2, 3]\n").encode(),
        "bad_utf8.jsonl": (good + "\n").encode() + b'{"prompt": "caf\xe9 \xff", "answer": "1"}\n',
        "empty.jsonl": b"",
        "blank_lines.jsonl": b"\n\n   \n",
        "missing_answer.jsonl": (json.dumps({"prompt": "What is 2 + 2?"}) + "\n").encode(),
        # 8 MB on one line, never closed: the loader must name the line, not hang or load it all twice
        "huge_line.jsonl": b'{"prompt": "' + b"x" * 8_000_000,
        "not_parquet.parquet": b"PAR1 this is not a parquet file",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    pq.write_table(pa.table({"question": ["What is 1 + 1?"], "answer": ["2"]}), tmp_path / "no_prompt.parquet")
    return {name: tmp_path / name for name in [*files, "no_prompt.parquet"]}


DATA_CASES = [  # (file, source type, error, exit code, text that names the culprit)
    ("truncated.jsonl", "jsonl", InputError, 3, "truncated.jsonl:2: malformed JSON"),
    ("wrong_type.jsonl", "jsonl", InputError, 3, "wrong_type.jsonl:2: field 'prompt': must be a non-empty string"),
    ("not_object.jsonl", "jsonl", InputError, 3, "not_object.jsonl:2: expected a JSON object"),
    ("bad_utf8.jsonl", "jsonl", InputError, 3, "bad_utf8.jsonl:2: invalid UTF-8"),
    ("empty.jsonl", "jsonl", InputError, 3, "empty.jsonl: no rows"),
    ("blank_lines.jsonl", "jsonl", InputError, 3, "blank_lines.jsonl: no rows"),
    ("missing_answer.jsonl", "jsonl", InputError, 3, "missing_answer.jsonl:1: field 'answer': missing"),
    ("huge_line.jsonl", "jsonl", InputError, 3, "huge_line.jsonl:1: malformed JSON"),
    ("not_parquet.parquet", "parquet", InputError, 3, "not_parquet.parquet: not a readable Parquet file"),
    ("no_prompt.parquet", "parquet", InputError, 3, "no_prompt.parquet: field 'prompt': missing column"),
    ("absent.jsonl", "jsonl", InputError, 3, "absent.jsonl: file not found"),
]


@pytest.mark.parametrize("name,kind,error,code,culprit", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_file_fails_before_any_write(name, kind, error, code, culprit, lake, bad_files, tmp_path,
                                              capsys):
    path = bad_files.get(name, tmp_path / name)
    config = write_config(tmp_path, lake, file_source(path, kind))
    expect_failure(["run", config], error, code, culprit, lake, capsys)


CONFIG_CASES = [  # (YAML body after lake/backend, error, exit code, culprit)
    ("colour: red\nsources: [{type: reasoning_gym, task: gcd, count: 2}]\n", ConfigError, 2, "colour: unknown key"),
    ("sources: [{type: reasoning_gym, task: gcd, count: 2, colour: red}]\n", ConfigError, 2,
     "sources.0.reasoning_gym.colour: unknown key"),
    ("sampling: {k: many}\nsources: [{type: reasoning_gym, task: gcd, count: 2}]\n", ConfigError, 2, "sampling.k"),
    ("sources: [{type: reasoning_gym, task: gcd, count: -1}]\n", ConfigError, 2, "sources.0.reasoning_gym.count"),
    ("sources: [{type: reasoning_gym, task: gdc, count: 2}]\n", ConfigError, 2, "unknown reasoning-gym task 'gdc'"),
    ("sources: [\n", ConfigError, 2, "invalid YAML"),
    ("model: /nonexistent/model-dir\nsources: [{type: reasoning_gym, task: gcd, count: 2}]\n", ModelError, 6,
     "/nonexistent/model-dir"),
    ("model: no-such-model\nsources: [{type: reasoning_gym, task: gcd, count: 2}]\n", ModelError, 6,
     "no-such-model"),
]


GCD2 = "sources: [{type: reasoning_gym, task: gcd, count: 2}, {type: reasoning_gym, task: chain_sum, count: 2}]\n"
METHOD_CASES = [  # a method switched on without its inputs: refused before any sampling
    ("mix: {dmt: {enabled: true}}\n" + GCD2, ConfigError, 2, "mix.dmt: enabled needs specialist_tasks"),
    ("mix: {dmt: {enabled: true, specialist_tasks: [gdc]}}\n" + GCD2, ConfigError, 2,
     "mix.dmt.specialist_tasks: gdc is no task or source"),
    ("mix: {dmt: {enabled: true, specialist_tasks: [gcd, chain_sum]}}\n" + GCD2, ConfigError, 2,
     "stage 2 (general data) would be empty"),
    ("judge: {model: no-such-judge}\n" + GCD2, ModelError, 6, "judge.model: unknown model 'no-such-judge'"),
    ("judge: {backend: transformers}\n" + GCD2, ConfigError, 2, "also set judge.model"),
]


@pytest.mark.parametrize("body,error,code,culprit", CONFIG_CASES + METHOD_CASES, ids=[
    "unknown-top-key", "unknown-source-key", "wrong-type", "out-of-range", "unknown-task", "invalid-yaml",
    "missing-model-path", "missing-model-name", "dmt-without-specialists", "dmt-unknown-specialist",
    "dmt-without-general-data", "judge-model-missing", "judge-engine-without-model"])
def test_bad_config_fails_before_any_write(body, error, code, culprit, lake, tmp_path, capsys):
    config = write_config(tmp_path, lake, body)
    expect_failure(["run", config], error, code, culprit, lake, capsys)


def test_missing_config_file_is_named(lake, tmp_path, capsys):
    expect_failure(["run", str(tmp_path / "nope.yaml")], ConfigError, 2, "nope.yaml: config file not found",
                   lake, capsys)


def test_source_outside_data_roots_is_refused(lake, tmp_path, capsys):
    inside, outside = tmp_path / "data", tmp_path / "elsewhere"
    inside.mkdir(), outside.mkdir()
    (outside / "p.jsonl").write_text(json.dumps({"prompt": "What is 2 + 2?", "answer": "4"}) + "\n")
    link = inside / "link.jsonl"
    link.symlink_to(outside / "p.jsonl")  # a symlink inside the root that points out of it
    for path in (outside / "p.jsonl", link):
        config = write_config(tmp_path, lake, f"data_roots: [{inside}]\n" + file_source(path))
        expect_failure(["run", config], InputError, 3, f"{path}: outside the configured data_roots", lake, capsys)


SQL_CASES = [  # statements through `warmstart sql` without --write, and broken SQL
    ("DELETE FROM prompts", LakeError, 4, "read-only"),
    ("INSERT INTO train_metrics VALUES ('x', 1, 'loss', 0.5, 'x')", LakeError, 4, "read-only"),
    ("DROP TABLE prompts", LakeError, 4, "read-only"),
    ("UPDATE prompts SET answer = '0'", LakeError, 4, "read-only"),
    ("COPY prompts TO '/tmp/out.csv'", LakeError, 4, "read-only"),
    ("SELEC * FROM prompts", LakeError, 4, "syntax error"),
    ("SELECT * FROM no_such_table", LakeError, 4, "no_such_table"),
    ("SELECT nope FROM prompts", LakeError, 4, "nope"),
]


@pytest.mark.parametrize("sql,error,code,culprit", SQL_CASES, ids=[c[0].split()[0] + "-" + str(i)
                                                                   for i, c in enumerate(SQL_CASES)])
def test_sql_that_writes_or_does_not_parse(sql, error, code, culprit, lake, capsys):
    expect_failure(["sql", sql, "--lake", str(lake.location)], error, code, culprit, lake, capsys)


def test_sql_time_travel_to_a_missing_snapshot(lake, capsys):
    expect_failure(["sql", "SELECT 1", "--lake", str(lake.location), "--version", "999"], LakeError, 4,
                   "no snapshot version 999", lake, capsys)


def test_export_of_an_unknown_split_names_it(lake, tmp_path, capsys):
    expect_failure(["export", "nosuchsplit", "--to", str(tmp_path / "out"), "--lake", str(lake.location)],
                   SplitError, 5, "unknown split 'nosuchsplit'", lake, capsys)
    assert not (tmp_path / "out").exists()

