"""End to end on the bundled model with the transformers backend: stages, lake, splits, export."""

import json

import pytest

from flows.cli import main
from flows.config import validate
from schemas.lake import Lake

pytestmark = pytest.mark.slow


def small_config(lake_dir, **over):
    raw = {
        "lake": str(lake_dir), "backend": "transformers", "backend_options": {"batch_size": 8},
        "sources": [
            {"type": "reasoning_gym", "task": "chain_sum", "count": 4, "seed": 1,
             "config": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}},
            {"type": "reasoning_gym", "task": "gcd", "count": 3, "seed": 1,
             "config": {"min_numbers": 2, "max_numbers": 2, "max_value": 20}},
        ],
        "sampling": {"k": 3, "temperature": 1.0, "max_tokens": 40, "seed": 0},
    }
    raw.update(over)
    return raw


@pytest.fixture(scope="module")
def curated(tmp_path_factory, bundled_model_path):
    from flows.curate import run_curation

    lake_dir = tmp_path_factory.mktemp("flow") / "lake"
    summary = run_curation(validate(small_config(lake_dir)))
    return Lake(lake_dir), summary


def test_every_stage_is_one_snapshot_and_tables_are_filled(curated):
    lake, summary = curated
    names = [s[0] for s in summary.stages]
    assert names == ["sources", "generate", "verify", "rank", "splits"]
    versions = [s[1] for s in summary.stages]
    assert versions == sorted(set(versions)), "each stage commits its own snapshot"
    counts = lake.query("SELECT (SELECT count(*) FROM prompts) p, (SELECT count(*) FROM generations) g, "
                        "(SELECT count(*) FROM verdicts) v, (SELECT count(*) FROM prompt_stats) s").to_pylist()[0]
    dropped = lake.query("SELECT count(DISTINCT record_id) n FROM filter_log WHERE table_name = 'prompts'")
    assert counts["p"] >= 1 and counts["p"] + dropped.column("n")[0].as_py() == 7, "every prompt kept or logged"
    assert counts == {"p": counts["p"], "g": 3 * counts["p"], "v": 3 * counts["p"], "s": counts["p"]}
    stats = lake.query("SELECT k, pass_rate, n_correct, difficulty_bucket FROM prompt_stats").to_pylist()
    assert all(r["k"] == 3 and r["pass_rate"] == pytest.approx(r["n_correct"] / 3) for r in stats)


def test_sampling_is_recorded_per_row_and_run_is_completed(curated):
    lake, summary = curated
    sampling = lake.query("SELECT DISTINCT sampling FROM generations").column(0).to_pylist()
    assert [json.loads(s)["temperature"] for s in sampling] == [1.0]
    run = lake.query(f"SELECT status, kind FROM runs WHERE run_id = '{summary.run_id}'").to_pylist()
    assert run == [{"status": "completed", "kind": "curate"}]


def test_splits_follow_their_rules(curated):
    lake, _ = curated
    rl = lake.query("SELECT min(pass_rate) lo, max(pass_rate) hi, count(*) n FROM rl_prompts").to_pylist()[0]
    if rl["n"]:
        assert 0 < rl["lo"] and rl["hi"] < 1
    sft = lake.query("SELECT prompt_id, origin, messages FROM sft_examples").to_pylist()
    n_prompts = lake.query("SELECT count(*) n FROM prompts").column("n")[0].as_py()
    # one per train prompt (own correct answer, else gold), more for missing skills (STAT-Sel copies)
    assert len({r["prompt_id"] for r in sft}) == n_prompts <= len(sft)
    assert {r["origin"] for r in sft} <= {"self", "gold"}
    assert all(r["messages"][-1]["role"] == "assistant" for r in sft)
    bad_pairs = lake.query("SELECT count(*) n FROM preference_pairs WHERE chosen_score <= rejected_score "
                           "OR chosen = rejected").to_pylist()
    assert bad_pairs == [{"n": 0}]


def test_rerun_upserts_without_duplicates_and_reuses_generations(curated, tmp_path):
    from flows.curate import run_curation

    lake, _ = curated
    before = lake.query("SELECT count(*) n FROM generations").to_pylist()
    summary = run_curation(validate(small_config(lake.location)))
    counts = dict((name, c) for name, _, c in summary.stages)
    assert counts["generate"]["generated_now"] == 0, "all samples came from the lake"
    assert lake.query("SELECT count(*) n FROM generations").to_pylist() == before
    rows = lake.query("SELECT count(*) n, count(DISTINCT prompt_id) d FROM prompts").to_pylist()[0]
    assert rows["n"] == rows["d"] == summary.stages[0][2]["prompts"]


def test_sql_time_travel_splits_and_export(curated, tmp_path, capsys):
    lake, summary = curated
    first_version = summary.stages[0][1]
    assert main(["sql", "SELECT count(*) AS n FROM generations", "--lake", str(lake.location),
                 "--version", str(first_version), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"n": 0}
    assert main(["splits", "--lake", str(lake.location), "--format", "json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["split_name"] for r in listed} >= {"sft"}
    assert main(["export", "sft", "--to", str(tmp_path / "out"), "--lake", str(lake.location)]) == 0
    import datasets
    data = datasets.load_dataset("parquet", data_files=str(tmp_path / "out" / "sft.parquet"), split="train")
    n_sft = lake.query("SELECT count(*) n FROM sft_examples").column("n")[0].as_py()
    assert data.num_rows == n_sft and data[0]["messages"][-1]["role"] == "assistant"


def test_delete_without_write_fails_and_changes_nothing(curated, capsys):
    lake, _ = curated
    version = lake.latest_version()
    before = lake.query("SELECT count(*) n FROM prompts").to_pylist()
    assert main(["sql", "DELETE FROM prompts", "--lake", str(lake.location)]) == 4
    assert "read-only; pass --write" in capsys.readouterr().err
    assert lake.latest_version() == version
    assert lake.query("SELECT count(*) n FROM prompts").to_pylist() == before


@pytest.mark.parametrize("over, pattern, code", [
    ({"model": "no-such-model"}, "unknown model 'no-such-model'", 6),
    ({"sources": [{"type": "jsonl", "path": "/nonexistent/x.jsonl"}]}, "x.jsonl: file not found", 3),
    ({"sources": [{"type": "reasoning_gym", "task": "nope", "count": 2}]}, "unknown reasoning-gym task", 2),
])
def test_bad_input_leaves_the_lake_unchanged(curated, tmp_path, capsys, over, pattern, code):
    import yaml

    lake, _ = curated
    version = lake.latest_version()
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(small_config(lake.location, **over)))
    assert main(["run", str(path)]) == code
    err = capsys.readouterr().err
    assert pattern in err and "Traceback" not in err
    assert lake.latest_version() == version
