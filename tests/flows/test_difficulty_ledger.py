"""The difficulty ledger across real curate runs on a deterministic fake policy: runs add to it,
reused samples count once, `difficulty.pooled` ranks by it (closer to the policy's true skill),
exports carry its pass rate, and the README's one query compares two policies."""

import json
import re
from pathlib import Path

import pytest

from curation.generate import conversation
from fake_policy import FakePolicy, stable_int
from flows.cli import main
from flows.config import validate
from flows.sources import load_prompts
from schemas.ids import content_id
from schemas.lake import Lake

README = Path(__file__).parents[2] / "README.md"
TASKS = {"basic_arithmetic": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
         "chain_sum": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}}

# the fake policy has no weights: its fingerprint is its name (GenerationBackend.identity), as in sample ids
FAKE_POLICY = content_id("named model", "fake-policy")


class TrainedPolicy(FakePolicy):
    """A 'checkpoint' of the fake policy that answers every question right."""

    model_name = "fake-checkpoint"

    def _sample(self, text, prefix, seed, j):
        sample = super()._sample(text, prefix, seed, j)
        sample.text = sample.text.rsplit("Answer:", 1)[0] + f"Answer: {self._gold(text)}"
        sample.finish_reason = "stop"
        return sample


def config(folder: Path, *, seed: int = 0, pooled: bool = False, model: str = "fake-policy"):
    sources = [{"type": "reasoning_gym", "task": task, "count": 20, "seed": 3, "config": settings}
               for task, settings in TASKS.items()]
    return validate({"lake": str(folder / "lake"), "backend": "openai", "model": model, "decontam": None,
                     "sources": sources, "sampling": {"k": 4, "max_tokens": 64, "seed": seed},
                     "difficulty": {"pooled": pooled}})


def curate(cfg, policy_class=FakePolicy) -> str:
    """One curate run with the fake policy in place of the engine; returns its run id."""
    import curation.backends
    from flows.curate import run_curation

    policy = policy_class({p["prompt"]: p["answer"] for p in load_prompts(cfg.sources).to_pylist()})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(curation.backends, "load_backend", lambda *args, **kwargs: policy)
        return run_curation(cfg).run_id


def query(lake: Lake, sql: str) -> list[dict]:
    return lake.query(sql).to_pylist()


def ledger_of(lake: Lake, model: str = "fake-policy") -> dict[str, dict]:
    rows = query(lake, f"SELECT * FROM difficulty WHERE model = '{model}'")
    return {row["prompt_id"]: row for row in rows}


def exported(lake: Lake, folder: Path, fmt: str) -> list[dict]:
    assert main(["export", "rl", "--to", str(folder / fmt), "--format", fmt, "--lake", str(lake.location)]) == 0
    manifest = json.loads((folder / fmt / "rl.manifest.json").read_text())
    import pyarrow.parquet as pq

    rows = pq.read_table(folder / fmt / manifest["file"]).to_pylist()
    return [{"prompt_id": r.get("prompt_id") or r["extra_info"]["prompt_id"], "pass_rate": r["pass_rate"],
             "source": manifest["difficulty"]["source"]} for r in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Five runs on one lake, with what each left behind."""
    folder = tmp_path_factory.mktemp("ledger")
    lake = Lake(folder / "lake")
    seen = {"lake": lake, "folder": folder}
    seen["first"] = curate(config(folder))
    seen["after_first"] = ledger_of(lake)
    seen["rerun"] = curate(config(folder))  # same seed: every sample reused from the lake
    seen["after_rerun"] = ledger_of(lake)
    seen["own"] = curate(config(folder, seed=1))  # new samples, ranked by this run's alone
    seen["own_stats"] = query(lake, "SELECT * FROM prompt_stats")
    seen["own_rl"] = query(lake, f"SELECT prompt_id, pass_rate FROM rl_prompts WHERE run_id = '{seen['own']}'")
    seen["exports"] = {fmt: exported(lake, folder, fmt) for fmt in ("parquet", "verl")}
    seen["after_own"] = ledger_of(lake)
    seen["pooled"] = curate(config(folder, seed=1, pooled=True))  # the same samples, ranked by the ledger
    seen["pooled_stats"] = query(lake, "SELECT * FROM prompt_stats")
    seen["checkpoint"] = curate(config(folder, model="fake-checkpoint"), TrainedPolicy)
    fmt = config(folder).prompt_format
    seen["skill"] = {p["prompt_id"]: stable_int("skill", conversation(p["prompt"], fmt)[-1]["content"]) % 5 / 4
                     for p in load_prompts(config(folder).sources).to_pylist()}
    return seen


def test_a_rerun_reusing_the_samples_lists_the_run_but_counts_nothing_twice(runs):
    first, again = runs["after_first"], runs["after_rerun"]
    assert first and set(first) == set(again)
    for prompt_id, row in again.items():
        assert (row["attempts"], row["successes"]) == (first[prompt_id]["attempts"], first[prompt_id]["successes"])
        assert row["attempts"] == 4 and row["run_ids"] == sorted([runs["first"], runs["rerun"]])


def test_a_run_with_new_samples_adds_them_to_the_pooled_counts(runs):
    before, after = runs["after_rerun"], runs["after_own"]
    own = {row["prompt_id"]: row for row in runs["own_stats"]}
    for prompt_id, row in after.items():
        assert row["attempts"] == 8 and row["successes"] == before[prompt_id]["successes"] + own[prompt_id]["n_correct"]
        assert row["policy"] == FAKE_POLICY and runs["own"] in row["run_ids"] and len(row["run_ids"]) == 3


def test_pooled_ranking_is_closer_to_the_policys_true_skill(runs):
    own = {row["prompt_id"]: row for row in runs["own_stats"]}
    pooled = {row["prompt_id"]: row for row in runs["pooled_stats"]}
    assert set(own) == set(pooled) and all(row["k"] == 8 for row in pooled.values())
    moved = [pid for pid in own if own[pid]["difficulty_bucket"] != pooled[pid]["difficulty_bucket"]]
    assert moved, "pooling over 8 samples instead of 4 moves some prompt to another bucket"

    def error(stats):
        return sum(abs(stats[pid]["pass_rate"] - runs["skill"][pid]) for pid in stats) / len(stats)

    assert error(pooled) < error(own)


def test_exports_carry_the_pooled_pass_rate_of_the_curating_policy(runs):
    ledger = runs["after_own"]
    own = {row["prompt_id"]: row["pass_rate"] for row in runs["own_rl"]}
    assert any(own[pid] != ledger[pid]["pass_rate"] for pid in own)  # the run's rate is not the pooled one
    for fmt, rows in runs["exports"].items():
        assert {row["prompt_id"] for row in rows} == set(own), fmt
        assert all(row["pass_rate"] == ledger[row["prompt_id"]]["pass_rate"] for row in rows), fmt
        assert rows[0]["source"].startswith(f"difficulty.pass_rate (pooled over every run of the curating policy) "
                                            f"for {len(rows)} rows")


def readme_query() -> str:
    """The README's ledger query (the sql block after the line that names it)."""
    text = README.read_text(encoding="utf-8")
    found = re.search(r"how hard was this prompt for checkpoint X.*?```sql\n(.*?)```", text, re.S | re.I)
    assert found, "README has the ledger query"
    return found.group(1)


def test_the_readme_query_answers_for_a_checkpoint_and_the_base_model_at_once(runs, capsys):
    lake = runs["lake"]
    prompt_id = sorted(runs["after_own"])[0]
    sql = (readme_query().replace("<prompt_id>", prompt_id).replace("out/sft-round1", "fake-checkpoint")
           .replace("smollm2-135m-instruct", "fake-policy"))
    capsys.readouterr()
    assert main(["sql", sql, "--format", "json", "--lake", str(lake.location)]) == 0
    rows = {row["model"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"fake-checkpoint", "fake-policy"}
    assert rows["fake-checkpoint"]["pass_rate"] == 1.0 and rows["fake-checkpoint"]["attempts"] == 4
    base = runs["after_own"][prompt_id]
    assert (rows["fake-policy"]["attempts"], rows["fake-policy"]["successes"]) == (8, base["successes"])
    assert rows["fake-policy"]["runs"] == 4  # first, rerun, own, pooled
