"""The split registry: a split reads back exactly its rows, as of the snapshot it was cut from."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.errors import SplitError
from schemas.lake import Lake
from schemas.split_registry import list_splits, read_split, register_split, register_splits, split_stages

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


def test_an_rl_split_carries_the_replay_stages_of_its_own_run(lake):
    """replay_stages come from the split's curate run's curriculum_schedule (retrospective rows), as of its snapshot."""
    schedule = [{"stage": 1, "prompt_id": "p1", "home_stage": 1, "retrospective": False, "pass_rate": 0.2},
                {"stage": 2, "prompt_id": "p1", "home_stage": 1, "retrospective": True, "pass_rate": 0.2},
                {"stage": 3, "prompt_id": "p1", "home_stage": 1, "retrospective": True, "pass_rate": 0.2},
                {"stage": 2, "prompt_id": "p2", "home_stage": 2, "retrospective": False, "pass_rate": 0.5}]
    lake.commit({"rl_prompts": [_rl_prompt("p1", "1?"), _rl_prompt("p2", "2?")], "curriculum_schedule": schedule},
                run_id="r1")
    register_split(lake, "rl", "rl", ["p1", "p2"], run_id="r1")
    def replays():
        return {r["prompt_id"]: r["replay_stages"] for r in read_split(lake, "rl").rows.to_pylist()}

    assert replays() == {"p1": [2, 3], "p2": []}
    lake.commit({"curriculum_schedule": [{**schedule[1], "stage": 4}]}, run_id="other")  # another run's schedule
    register_split(lake, "rl", "rl", ["p1", "p2"], run_id="r1")
    assert replays() == {"p1": [2, 3], "p2": []}


def test_a_dmt_mix_trains_its_two_stages_when_they_are_newest(lake):
    lake.commit({"rl_prompts": [_rl_prompt("p1", "1?")]})
    assert split_stages(lake, "sft") == ["sft"]  # nothing registered: the name itself (read_split names the error)
    old = register_split(lake, "sft", "rl", ["p1"], run_id="r1")
    assert split_stages(lake, "sft") == ["sft"]
    lake.commit({"rl_prompts": [_rl_prompt("p2", "2?")]})
    new = register_splits(lake, {"sft_stage1": ("rl", ["p1"]), "sft_stage2": ("rl", ["p2"])}, run_id="r2")
    assert split_stages(lake, "sft") == ["sft_stage1", "sft_stage2"]
    assert split_stages(lake, "sft", new) == ["sft_stage1", "sft_stage2"] and split_stages(lake, "sft", old) == ["sft"]
    register_split(lake, "sft", "rl", ["p2"], run_id="r3")  # a newer plain split wins again
    assert split_stages(lake, "sft") == ["sft"]
