"""docs/methods.md is generated, not typed; every README method is declared; every switch is real;
a quick run measures what a method changes."""

import json
import re
from pathlib import Path

import pytest

from benchmarks.methods_render import render
from benchmarks.methods_report import JSON_PATH, MD_PATH, METHODS, base_config, config_for, main

README = Path(__file__).parents[2] / "README.md"


def test_the_methods_page_is_the_rendering_of_the_committed_json():
    assert MD_PATH.read_text(encoding="utf-8") == render(json.loads(JSON_PATH.read_text(encoding="utf-8"))), \
        "docs/methods.md was edited by hand or is stale: run benchmarks/methods_report.py --render"


def test_the_committed_json_covers_every_declared_method():
    report = json.loads(JSON_PATH.read_text(encoding="utf-8"))
    assert [entry["name"] for entry in report["methods"]] == [m.name for m in METHODS]
    assert all(entry["status"] == ("pending" if m.pending else "measured")
               for entry, m in zip(report["methods"], METHODS))


def readme_method_keys() -> set[str]:
    """The config keys in the last column of the README's curation-methods table."""
    section = README.read_text(encoding="utf-8").split("## Curation methods", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| method |"))
    table = lines[start + 2:]
    rows = table[:next((i for i, line in enumerate(table) if not line.startswith("|")), len(table))]
    return {key for row in rows for key in re.findall(r"`([^`]+)`", row.rstrip(" |").rsplit("|", 1)[1])}


def test_every_method_of_the_readme_table_is_declared():
    keys = readme_method_keys()
    assert len(keys) >= 10
    assert keys <= {key for method in METHODS for key in method.config}, "add a Method entry for each README row"


@pytest.mark.parametrize("quick", [False, True])
def test_every_switch_is_a_valid_config_that_changes_the_config(quick, tmp_path):
    base = base_config(quick)
    for method in (m for m in METHODS if not m.pending):
        off, on = config_for(base, method.off, tmp_path), config_for(base, method.on, tmp_path)
        assert off.model_dump() != on.model_dump(), method.name


def test_a_quick_run_measures_what_a_method_changes(tmp_path):
    out_json, out_md = tmp_path / "methods.json", tmp_path / "methods.md"
    assert main(["--quick", "--count", "4", "--only", "RL filter 0 < pass rate < 1", "--json", str(out_json), "--md", str(out_md)]) == 0
    report = json.loads(out_json.read_text())
    assert out_md.read_text() == render(report) and report["generated"]["mode"] == "quick"
    (entry,) = report["methods"]
    changes = entry["changes"]
    rl = changes["splits"]["rl"]
    assert rl["off"] > rl["on"] and rl["out"] == rl["off"] - rl["on"] and rl["in"] == 0
    assert changes["drops"]["rl_filter"][0] == 0 and changes["drops"]["rl_filter"][1] == rl["out"]
    seconds, tokens = changes["cost"]["seconds"], changes["cost"]["tokens"]
    assert all(s > 0 for s in seconds) and tokens[0] == tokens[1] > 0  # same samples; the filter costs no tokens
    assert {"unsolved", "solved"} & set(changes["mix"]["rl"]["difficulty_bucket"])
