"""The curate flow's output does not drift: a demo-like run on a deterministic fake policy must cut
the same splits, row for row, and log the same drops as recorded in tests/data/curate_golden.json.

The config is configs/demo.yaml with smaller counts (same reasoning-gym sources, the same hygiene,
skill-pair synthesis, step pairs, curriculum and mix), minus embedding tagging (float cosines near
a threshold could differ between CPUs), plus what makes every step drop something: a small file
of short and near-duplicate prompts, a trace filter, curriculum stage sizes and a mix budget.
Rows are compared by id and by an md5 of their content (every column but run_id), computed in
SQL in the lake.

When a change is MEANT to alter the splits (new generation ids, a new default, a fixed bug),
regenerate the file and commit it with the change, saying why in the commit message:

    WARMSTART_REGEN_GOLDEN=1 python -m pytest tests/flows/test_curate_golden.py
"""

import json
import os
from pathlib import Path

import pytest
import yaml

from fake_policy import curate_with_fake_policy
from flows.config import validate
from schemas.lake import Lake
from schemas.tables import ROW_ID, TABLES

GOLDEN = Path(__file__).parents[1] / "data" / "curate_golden.json"
DEMO = Path(__file__).parents[2] / "configs" / "demo.yaml"
COUNT = 12  # prompts per reasoning-gym task (the demo draws 40)


NEAR = ("A farmer has three fields of wheat and two fields of corn; each field yields forty sacks of grain "
        "at harvest time, and the farmer sells half of all the sacks at the market on {}. How many sacks "
        "does the farmer keep?")
HANDMADE = ["What is 2 + 2?", "Hi", NEAR.format("Monday"), NEAR.format("Friday"),
            "what is 2 + 2?", "Name the largest prime number below twenty and explain why it is prime."]


def golden_config(folder: Path) -> dict:
    """configs/demo.yaml, smaller, on the fake policy, with every drop step switched on."""
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    for source in raw["sources"]:
        source["count"] = COUNT
    handmade = folder / "handmade.jsonl"
    handmade.write_text("".join(json.dumps({"prompt": q, "answer": str(i)}) + "\n" for i, q in enumerate(HANDMADE)))
    raw["sources"].append({"type": "jsonl", "path": str(handmade), "verifier": "exact"})
    raw["skills"]["tagging"] = "none"
    raw["skills"]["synthesis"]["n_prompts"] = 6
    raw["dedup"]["near"]["threshold"] = 0.7
    raw["trace_filter"] = {"max_backtracks": 1}
    raw["curriculum"]["stage_sizes"] = [4, None, 3]
    raw["mix"] = {**raw["mix"], "budget": 40, "quotas": {"per_task": {"*": 0.5}}}
    return {**raw, "lake": str(folder / "lake"), "backend": "openai", "model": "fake-policy",
            "backend_options": {}}


def split_contents(lake: Lake) -> dict:
    """Per split: its kind and table, and [row id, md5 of the row] in the split's own row order."""
    out = {}
    for split in lake.query("SELECT split_name, kind, table_name, row_ids FROM splits ORDER BY split_name").to_pylist():
        table = split["table_name"]
        columns = ", ".join(f.name for f in TABLES[table].schema if f.name != "run_id")
        rows = lake.query(f"SELECT {ROW_ID[table]} AS row_id, md5(CAST(row({columns}) AS VARCHAR)) AS content "
                          f"FROM {table}").to_pylist()
        content = {r["row_id"]: r["content"] for r in rows}
        out[split["split_name"]] = {"kind": split["kind"], "table": table,
                                    "rows": [[rid, content.get(rid)] for rid in split["row_ids"]]}
    return out


def drop_log(lake: Lake) -> list[list[str]]:
    """Every filter_log row (table, step, record, reason), sorted."""
    rows = lake.query("SELECT table_name, step, record_id, reason FROM filter_log "
                      "ORDER BY table_name, step, record_id, reason").to_pylist()
    return [list(r.values()) for r in rows]


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden")
    with pytest.MonkeyPatch.context() as monkeypatch:
        summary = curate_with_fake_policy(validate(golden_config(folder)), monkeypatch)
    lake = Lake(folder / "lake")
    return summary, {"splits": split_contents(lake), "filter_log": drop_log(lake)}


def test_splits_and_drops_match_the_golden_file(golden_run):
    _, found = golden_run
    if os.environ.get("WARMSTART_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(found["splits"]) == sorted(expected["splits"]), "the same split names"
    for name, split in expected["splits"].items():
        assert found["splits"][name] == split, f"split {name} changed (see the module docstring to regenerate)"
    assert found["filter_log"] == expected["filter_log"]


def test_the_golden_run_exercises_every_split_and_step(golden_run):
    """A golden file of empty splits would prove nothing."""
    summary, found = golden_run
    assert {s["kind"] for s in found["splits"].values()} == {"sft", "preference", "rl"}
    assert all(len(s["rows"]) >= 3 and all(c is not None for _, c in s["rows"]) for s in found["splits"].values())
    steps = {step for _, step, _, _ in found["filter_log"]}
    assert steps == {"quality.length", "quality.truncated", "exact_dedup", "near_dedup", "decontam", "trace.backtracks",
                     "rl_filter", "curriculum", "mix"}, steps
    counts = dict((name, c) for name, _, c in summary.stages)
    assert counts["sources"]["synthetic_prompts"] > 0 and counts["splits"]["step_pairs"] > 0
