"""Budget split, quotas and DMT two-stage mixing."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.mixing import (
    DMTConfig,
    MixConfig,
    QuotaConfig,
    dmt_schedule,
    fill_budget,
    mix_split,
    prompt_attributes,
    split_budget,
    weighted_order,
)
from schemas.errors import InputError


def prompts(n, tasks=("chain_sum", "gcd")):
    ids = [f"p{i}" for i in range(n)]
    return pa.table({"prompt_id": ids, "source": ["reasoning_gym"] * n,
                     "task": [tasks[i % len(tasks)] for i in range(n)],
                     "prompt": [f"q{i}" for i in range(n)]})


def sft_rows(prompt_table):
    ids = prompt_table.column("prompt_id").to_pylist()
    return pa.table({"example_id": [f"e{p}" for p in ids], "prompt_id": ids,
                     "messages": [[{"role": "user", "content": "x" * 40}] for _ in ids]})


def test_split_budget_keeps_sft_small_by_default():
    assert split_budget(MixConfig(budget=1000)) == {"sft": 100, "preference": 450, "rl": 450}
    assert split_budget(MixConfig(budget=10, sft_share=0.0, rl_share=1.0)) == {"sft": 0, "preference": 0, "rl": 10}
    assert split_budget(MixConfig()) == {"sft": None, "preference": None, "rl": None}


def test_fill_budget_honours_budget_and_task_quota():
    p = prompts(20)
    attrs = prompt_attributes(p)
    cfg = MixConfig(quotas=QuotaConfig(per_task={"gcd": 0.25}))
    result = fill_budget(sft_rows(p), attrs, 8, cfg, table_name="sft_examples")
    kept, dropped = result.kept, result.dropped
    tasks = dict(zip(p.column("prompt_id").to_pylist(), p.column("task").to_pylist()))
    kept_tasks = [tasks[x] for x in kept.column("prompt_id").to_pylist()]
    assert kept.num_rows == 8 and kept_tasks.count("gcd") == 2
    reasons = set(dropped.column("reason").to_pylist())
    assert reasons == {"budget", "quota:task=gcd"} and dropped.num_rows == 12


def test_token_budget_uses_cost_column_or_estimate():
    p = prompts(4)
    rows = sft_rows(p).append_column("n_tokens", pa.array([50, 50, 50, 50]))
    kept = fill_budget(rows, prompt_attributes(p), 120, MixConfig(unit="tokens"), table_name="sft_examples").kept
    assert kept.num_rows == 2
    est = fill_budget(sft_rows(p), prompt_attributes(p), 25, MixConfig(unit="tokens"), table_name="sft_examples").kept
    assert est.num_rows == 2  # ~11 tokens each from characters/4


def test_weight_column_orders_selection():
    p = prompts(10)
    rows = sft_rows(p).append_column("weight", pa.array([0.0] * 9 + [5.0]))
    kept = fill_budget(rows, prompt_attributes(p), 1, MixConfig(), table_name="sft_examples").kept
    assert kept.column("prompt_id").to_pylist() == ["p9"]
    order = weighted_order(["a", "b", "c"], [1, 1, 1], seed=1)
    assert order == weighted_order(["a", "b", "c"], [1, 1, 1], seed=1) and sorted(order) == [0, 1, 2]


def test_skill_and_bucket_quotas_use_attributes():
    p = prompts(6)
    stats = pa.table({"prompt_id": p.column("prompt_id"), "difficulty_bucket": ["hard"] * 3 + ["easy"] * 3})
    skills = pa.table({"skill_id": ["s1"], "name": ["addition"]})
    ps = pa.table({"prompt_id": ["p0", "p1", "p2", "p3"], "skill_id": ["s1"] * 4})
    attrs = prompt_attributes(p, stats, ps, skills)
    assert attrs.column("skills").to_pylist()[0] == ["addition"]
    cfg = MixConfig(quotas=QuotaConfig(per_skill={"addition": 0.5}, per_bucket={"easy": 0.5}))
    kept = fill_budget(sft_rows(p), attrs, 4, cfg, table_name="sft_examples").kept
    ids = set(kept.column("prompt_id").to_pylist())
    assert len(ids & {"p0", "p1", "p2", "p3"}) <= 2 and len(ids & {"p3", "p4", "p5"}) <= 2


def test_dmt_specialist_first_then_general_with_replay():
    p = prompts(8)
    cfg = MixConfig(dmt=DMTConfig(enabled=True, specialist_tasks=["chain_sum"], replay_fraction=0.5))
    out = dmt_schedule(sft_rows(p), prompt_attributes(p), cfg)
    stage1 = out.filter(pa.compute.equal(out.column("mix_stage"), 1)).column("prompt_id").to_pylist()
    stage2 = out.filter(pa.compute.equal(out.column("mix_stage"), 2)).column("prompt_id").to_pylist()
    assert sorted(stage1) == ["p0", "p2", "p4", "p6"]
    assert len(stage2) == 6 and len(set(stage2) & set(stage1)) == 2


def test_mix_split_applies_each_splits_budget():
    p = prompts(30)
    sft = sft_rows(p)
    pref = pa.table({"pair_id": [f"x{i}" for i in range(30)], "prompt_id": p.column("prompt_id"),
                     "prompt": ["q"] * 30, "chosen": ["a"] * 30, "rejected": ["b"] * 30})
    rl = p.select(["prompt_id", "prompt"])
    cfg, attrs = MixConfig(budget=40, sft_share=0.1), prompt_attributes(p)
    res = {table: mix_split(rows, cfg, attributes=attrs, table_name=table)
           for table, rows in (("sft_examples", sft), ("preference_pairs", pref), ("rl_prompts", rl))}
    assert [r.kept.num_rows for r in res.values()] == [4, 18, 18]
    assert all(set(r.dropped.column("table_name").to_pylist()) == {table} for table, r in res.items())
    assert res["sft_examples"].kept.column("mix_stage").to_pylist() == [1] * 4


def test_bad_config_and_input():
    with pytest.raises(ValidationError):
        MixConfig(sft_share=1.5)
    with pytest.raises(ValidationError, match="share must be in"):
        QuotaConfig(per_task={"gcd": 0})
    with pytest.raises(InputError, match="example_id"):
        fill_budget(pa.table({"prompt_id": ["a"]}), prompt_attributes(prompts(1)), 1, MixConfig(),
                    table_name="sft_examples")
