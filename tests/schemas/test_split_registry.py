"""The split registry: a split reads back exactly its rows, as of the snapshot it was cut from."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.errors import SplitError
from schemas.lake import Lake
from schemas.split_registry import list_splits, read_split, register_split

_example_ids = itertools.count()


def _rl_prompt(prompt_id: str, prompt: str) -> dict:
    return {"prompt_id": prompt_id, "task": "arith", "prompt": prompt, "answer": "4",
            "verifier": "exact", "metadata": "{}", "pass_rate": 0.5, "curriculum_stage": 1,
            "run_id": "r1"}


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("splits") / "lake")
    lake.ensure()
    return lake


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.sets(st.integers(0, 5), min_size=1), second=st.sets(st.integers(0, 5), min_size=1),
       prompts=st.lists(st.text(min_size=1, max_size=12), min_size=6, max_size=6))
def test_latest_and_pinned_versions_read_back_their_rows(shared_lake, first, second, prompts):
    name = f"rl-{next(_example_ids)}"
    ids = [f"{name}-p{i}" for i in range(6)]
    shared_lake.commit({"rl_prompts": [_rl_prompt(ids[i], prompts[i]) for i in range(6)]})
    v1 = register_split(shared_lake, name, "rl", [ids[i] for i in sorted(first)], run_id="r1")
    # Rewrite every prompt, then cut a second version: the first must still read the old text.
    shared_lake.commit({"rl_prompts": [_rl_prompt(ids[i], "v2:" + prompts[i]) for i in range(6)]})
    v2 = register_split(shared_lake, name, "rl", [ids[i] for i in sorted(second)], run_id="r1")
    assert v2 > v1

    def rows(split):
        return sorted(zip(split.rows.column("prompt_id").to_pylist(),
                          split.rows.column("prompt").to_pylist()))

    latest, pinned = read_split(shared_lake, name), read_split(shared_lake, name, v1)
    assert (latest.version, latest.kind, latest.table_name) == (v2, "rl", "rl_prompts")
    assert rows(latest) == sorted((ids[i], "v2:" + prompts[i]) for i in second)
    assert (pinned.version, rows(pinned)) == (v1, sorted((ids[i], prompts[i]) for i in first))
    listed = list_splits(shared_lake).to_pylist()
    assert [(r["version"], r["n_rows"]) for r in listed if r["split_name"] == name] == [
        (v1, len(first)), (v2, len(second))]


def test_unknown_split_lists_known_splits(lake):
    lake.commit({"rl_prompts": [_rl_prompt("p1", "2+2?")]})
    register_split(lake, "rl-easy", "rl", ["p1"], run_id="r1")
    register_split(lake, "rl-hard", "rl", ["p1"], run_id="r1")
    with pytest.raises(SplitError, match="unknown split 'nope'; known splits: rl-easy, rl-hard"):
        read_split(lake, "nope")


def test_unknown_version_lists_versions(lake):
    lake.commit({"rl_prompts": [_rl_prompt("p1", "2+2?")]})
    version = register_split(lake, "rl-easy", "rl", ["p1"], run_id="r1")
    with pytest.raises(SplitError, match=f"split 'rl-easy' has no version 999; versions: {version}"):
        read_split(lake, "rl-easy", 999)


def test_unknown_kind_and_empty_split_are_split_errors(lake):
    lake.commit({"rl_prompts": [_rl_prompt("p1", "2+2?")]})
    with pytest.raises(SplitError, match="unknown split kind 'grpo'; kinds: sft, preference, rl"):
        register_split(lake, "x", "grpo", ["p1"], run_id="r1")
    register_split(lake, "ghost", "rl", ["missing-id"], run_id="r1")
    with pytest.raises(SplitError, match="split 'ghost' version .* is empty"):
        read_split(lake, "ghost")
