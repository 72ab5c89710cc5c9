"""Every advertised method changes the data, measurably: one curate run with the methods on and
one with them off, on the deterministic fake policy, through the real flow and lake.

    STAT-Sel       the share of missing-skill SFT examples rises (no budget)
    DMT            the SFT split is registered as two stages: specialist, then general + replay
    step pairs     step-level pairs at the largest value drop, their values in step_values
    LLM judge      its own model judges every response of prompts without a verifier
    retrospective  the RL split carries replays, so GRPO trains more slots than prompts
"""

import json
import re

import pytest

import curation.backends
from curation.backends.base import Completion, GenerationBackend
from fake_policy import FakePolicy
from flows.config import validate
from flows.curate import run_curation
from flows.sources import load_prompts
from schemas.ids import content_id
from schemas.lake import Lake
from schemas.split_registry import read_split
from trainers.retrospective import RetrospectivePlan

GCD = {"min_numbers": 2, "max_numbers": 2, "max_value": 20}
OPEN = ["Write a short poem about the sea.", "Describe a cat in one sentence.", "Name a colour you like.",
        "Tell me a fact about the moon."]


def number(text: str) -> int:
    """The first 'Answer: N' number in a text; -1 without one (a truncated response)."""
    found = re.search(r"Answer: (\d+)", text)
    return int(found.group(1)) if found else -1


class NumberJudge(GenerationBackend):
    """A separate judge model: prefers the response whose 'Answer:' number is larger (none: -1)."""

    model_name = "judge-model"

    def __init__(self):
        self.calls = 0

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        self.calls += len(conversations)
        out = []
        for conv in conversations:
            text = conv[-1]["content"]
            a, b = (number(part) for part in text.split("Response B:"))
            out.append([Completion(f"Response {'A' if a > b else 'B'}.", 3, "stop")] * n)
        return out


def config(folder, on: bool) -> dict:
    open_file = folder / "open.jsonl"
    open_file.write_text("".join(json.dumps({"prompt": q}) + "\n" for q in OPEN))
    raw = {
        "lake": str(folder / "lake"), "backend": "openai", "model": "fake-policy", "decontam": None,
        "sources": [{"type": "reasoning_gym", "task": "chain_sum", "count": 16, "seed": 1,
                     "config": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}},
                    {"type": "reasoning_gym", "task": "gcd", "count": 16, "seed": 1, "config": GCD},
                    {"type": "jsonl", "path": str(open_file), "answer_field": None}],
        "sampling": {"k": 4, "temperature": 0.8, "max_tokens": 64, "seed": 0},
        "quality": None, "dedup": {"exact": None, "near": None, "responses": False},
        "skills": {"profile": {"missing_threshold": 0.6, "boost": 16.0 if on else 0.0}},  # gcd: deficit 0.09
        "curriculum": {"stage_buckets": [["easy"], ["medium"], ["hard"]],
                       "retrospective_fraction": 0.3 if on else 0.0},
    }
    if on:
        raw["mix"] = {"dmt": {"enabled": True, "specialist_tasks": ["chain_sum"], "replay_fraction": 0.5}}
        raw["step_pairs"] = {"max_prefixes": 2, "rollouts": 4, "min_drop": 0.25}
        raw["judge"] = {"model": "judge-model", "backend": "openai", "votes": 1}
    return raw


def curate(folder, on: bool, monkeypatch):
    cfg = validate(config(folder, on))
    policy = FakePolicy({p["prompt"]: p["answer"] for p in load_prompts(cfg.sources).to_pylist()})
    judge, loaded = NumberJudge(), []

    def load_backend(kind, model, **kwargs):
        loaded.append(str(model))
        return judge if model == "judge-model" else policy

    monkeypatch.setattr(curation.backends, "load_backend", load_backend)
    summary = run_curation(cfg)
    return Lake(cfg.lake), summary, judge, loaded


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for on in (True, False):
            out[on] = curate(tmp_path_factory.mktemp("on" if on else "off"), on, monkeypatch)
    return out


def sft_rows(lake: Lake, summary) -> list[dict]:
    """Every SFT example of the run's split (both DMT stages; a DMT replay, same id, once) with its task."""
    names = [n for n in summary.splits if n.startswith("sft")]
    ids = {i for n in names for i in read_split(lake, n).rows.column("example_id").to_pylist()}
    rows = lake.query("SELECT e.example_id, p.task FROM sft_examples e JOIN prompts p USING (prompt_id)").to_pylist()
    task = {r["example_id"]: r["task"] for r in rows}
    return [{"example_id": i, "task": task[i]} for i in ids]


def missing_tasks(lake: Lake) -> set[str]:
    return {r["name"] for r in lake.query("SELECT name FROM skill_profile WHERE missing").to_pylist()}


def test_stat_sel_raises_the_share_of_missing_skill_examples(runs):
    (lake_on, run_on, _, _), (lake_off, run_off, _, _) = runs[True], runs[False]
    missing = missing_tasks(lake_on)
    assert missing and missing == missing_tasks(lake_off)
    share = {on: sum(r["task"] in missing for r in rows) / len(rows)
             for on, rows in ((True, sft_rows(lake_on, run_on)), (False, sft_rows(lake_off, run_off)))}
    assert share[True] > share[False] + 0.15, share  # 0.5 -> 0.68 (gcd weight 2.4)
    mix = lake_on.query("SELECT name, share_before, share_after FROM skill_mix WHERE missing AND n_before > 0").to_pylist()
    assert mix and all(r["share_after"] > r["share_before"] for r in mix)


def test_dmt_registers_two_stages_only_when_on(runs):
    lake, summary, _, _ = runs[True]
    assert {"sft_stage1", "sft_stage2"} <= set(summary.splits) and "sft" not in summary.splits
    tasks = {}
    for name in ("sft_stage1", "sft_stage2"):
        ids = read_split(lake, name).rows.column("prompt_id").to_pylist()
        tasks[name] = {r["task"] for r in lake.query("SELECT prompt_id, task FROM prompts").to_pylist()
                       if r["prompt_id"] in ids}
    assert tasks["sft_stage1"] == {"chain_sum"} and "gcd" in tasks["sft_stage2"]
    assert "chain_sum" in tasks["sft_stage2"]  # the replayed specialist share
    assert "sft" in runs[False][1].splits and "sft_stage1" not in runs[False][1].splits


def test_step_pairs_are_cut_where_the_stored_values_drop_most(runs):
    lake, _, _, _ = runs[True]
    values = lake.query("SELECT * FROM step_values ORDER BY generation_id, prefix_steps").to_pylist()
    pairs = lake.query("SELECT chosen, rejected FROM preference_pairs WHERE pair_kind = 'step'").to_pylist()
    assert values and pairs
    assert all(r["value"] == r["n_correct"] / r["n_rollouts"] for r in values)
    cuts = [r for r in values if r["divergence"] and r["prefix_steps"] > 0]
    assert len(cuts) == len(pairs)
    for cut in cuts:
        curve = [r for r in values if r["generation_id"] == cut["generation_id"]]
        drops = [a["value"] - b["value"] for a, b in zip(curve, curve[1:])]
        assert drops[cut["prefix_steps"]] == max(drops)
    prefixes = {content_id("prefix", p["chosen"][:cut["prefix_chars"]]) for p in pairs for cut in cuts}
    assert {cut["prefix_hash"] for cut in cuts} <= prefixes
    off = runs[False][0]
    assert off.query("SELECT count(*) AS n FROM preference_pairs WHERE pair_kind = 'step'").to_pylist()[0]["n"] == 0


def test_the_judge_is_its_own_model_and_sees_every_response(runs):
    lake, _, judge, loaded = runs[True]
    assert loaded.count("judge-model") == 1  # loaded once
    responses = lake.query("""SELECT g.prompt_id, count(DISTINCT g.response) AS n FROM generations g
                              JOIN prompts p USING (prompt_id) WHERE p.answer IS NULL GROUP BY ALL""").to_pylist()
    assert judge.calls == sum(2 * r["n"] * (r["n"] - 1) // 2 for r in responses)  # every pair, both orders
    pairs = lake.query("SELECT prompt_id, chosen, rejected FROM preference_pairs WHERE pair_kind = 'judge'").to_pylist()
    assert pairs

    for pair in pairs:  # the round robin's winner: the largest number among all of the prompt's responses
        texts = lake.query(f"SELECT response FROM generations WHERE prompt_id = '{pair['prompt_id']}'").column(0)
        assert number(pair["chosen"]) == max(map(number, texts.to_pylist())) > number(pair["rejected"])
    assert runs[False][0].query("SELECT count(*) AS n FROM preference_pairs WHERE pair_kind = 'judge'").to_pylist() \
        == [{"n": 0}]


def test_retrospective_replays_reach_the_grpo_order(runs):
    rows_on = read_split(runs[True][0], "rl").rows.to_pylist()
    rows_off = read_split(runs[False][0], "rl").rows.to_pylist()
    plan = RetrospectivePlan.from_rows(rows_on, seed=0)
    assert plan is not None and plan.n_slots > len(rows_on)
    replayed = [r for r in rows_on if r["replay_stages"]]
    assert replayed and all(min(r["replay_stages"]) > r["curriculum_stage"] for r in replayed)
    assert RetrospectivePlan.from_rows(rows_off, seed=0) is None
