"""The skill methods inside real curate runs on the fake policy: extraction makes the inventory
richer than the task list and tags prompts with several skills; model synthesis writes verified
questions for the previous profile's weakest pair, which then reach the splits; synthesis
without a profile stops before any sampling and writes nothing; the profile is recorded under the
policy's fingerprint (test_skills_profile_lookup.py: found by it, not by the model's folder name)."""

import json
import re

import pytest

import curation.backends
from fake_policy import FakePolicy, curate_with_fake_policy
from flows.config import validate
from flows.curate import run_curation
from flows.stages.state import CurationState
from schemas.errors import InputError
from schemas.lake import Lake

TASKS = {"chain_sum": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
         "gcd": {"min_numbers": 2, "max_numbers": 2, "max_value": 20},
         "letter_counting": {"min_words": 1, "max_words": 2},
         "basic_arithmetic": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}}


def config(folder, **skills) -> dict:
    """Four easy reasoning-gym tasks, 8 prompts each, on the fake policy; `skills` as given."""
    return {"lake": str(folder / "lake"), "backend": "openai", "model": "fake-policy", "decontam": None,
            "sources": [{"type": "reasoning_gym", "task": t, "count": 8, "seed": 1, "config": c}
                        for t, c in TASKS.items()],
            "sampling": {"k": 4, "max_tokens": 64}, "skills": skills}


@pytest.fixture(scope="module")
def patched(minilm):
    """A monkeypatch for the module's runs, with the session's MiniLM in place of a fresh load per run."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(CurationState, "minilm", lambda self: minilm)
        yield monkeypatch


def rows(lake: Lake, sql: str) -> list[dict]:
    return lake.query(sql).to_pylist()


SYNTHESIS = {"mode": "model", "n_prompts": 12, "pairs": 1}


@pytest.fixture(scope="module")
def synthesis_runs(tmp_path_factory, patched):
    """A plain run (task skills only), then a run with model synthesis for its profile; and the
    weakest pair of the first profile (the second run's profile replaces its rows)."""
    raw = config(tmp_path_factory.mktemp("synthesis"))
    first = curate_with_fake_policy(validate(raw), patched)
    pair = weakest_pair(Lake(raw["lake"]), first.run_id)
    second = curate_with_fake_policy(validate({**raw, "skills": {"synthesis": SYNTHESIS}}), patched)
    return Lake(raw["lake"]), first, second, pair


@pytest.fixture(scope="module")
def extraction_runs(tmp_path_factory, patched):
    """Two runs with extraction (and composed prompts): the second reads the replies from the lake
    and caps prompts of one model-named skill at 5% of each split."""
    raw = config(tmp_path_factory.mktemp("extraction"), extract={"votes": 2},
                 synthesis={"mode": "compose", "n_prompts": 3})
    capped = {**raw, "mix": {"quotas": {"per_skill": {"subtraction": 0.05}}}}
    summaries = [curate_with_fake_policy(validate(r), patched) for r in (raw, capped)]
    return Lake(raw["lake"]), summaries


def test_extraction_makes_the_inventory_richer_than_the_tasks(extraction_runs, synthesis_runs):
    (on, (summary, again)), off = extraction_runs, synthesis_runs[0]
    assert sorted(r["name"] for r in rows(off, "SELECT name FROM skills")) == sorted(t.replace("_", " ") for t in TASKS)
    names = {r["name"]: r["origin"] for r in rows(on, "SELECT name, origin FROM skills")}
    model_named = {n for n, origin in names.items() if origin == "model"}
    assert {"addition", "subtraction", "greatest common divisor", "divisibility"} <= model_named
    # MiniLM merges the two spellings of one skill (the shorter one is also the task's name)
    assert len({"counting letters", "letter counting"} & set(names)) == 1
    assert len(names) > len(TASKS) and summary.counts["extracted_skills"] == len(model_named) + 1
    per_prompt = rows(on, "SELECT prompt_id, count(*) AS n, min(confidence) AS low FROM prompt_skills "
                          "WHERE origin = 'model' GROUP BY prompt_id")
    assert max(r["n"] for r in per_prompt) >= 2  # several skills per prompt
    assert min(r["low"] for r in per_prompt) == 0.5  # named in one of two replies
    # the profile now speaks of skills, not only of tasks
    profile = "SELECT * FROM skill_profile WHERE n_prompts > 0"
    assert len(rows(on, profile)) > len(rows(off, profile)) == len(TASKS)
    # every prompt's replies are in the lake once, and the second run read them instead of asking
    assert rows(on, "SELECT count(*) AS n FROM skill_extractions") == [{"n": 8 * len(TASKS)}]
    assert again.counts["skill_replies_cached"] == 8 * len(TASKS)


def test_a_model_named_skill_steers_the_splits(extraction_runs):
    """Subtraction spans two tasks (chain_sum, basic_arithmetic): no task quota can cap it, a
    quota on the extracted skill does."""
    lake, (free, capped) = extraction_runs

    def subtraction_rows(run_id: str) -> tuple[int, int]:
        split = rows(lake, f"SELECT row_ids FROM splits WHERE run_id = '{run_id}' AND kind = 'rl'")[0]["row_ids"]
        tagged = rows(lake, "SELECT ps.prompt_id, p.task FROM prompt_skills ps JOIN skills s USING (skill_id) "
                            "JOIN prompts p USING (prompt_id) WHERE s.name = 'subtraction'")
        return len({r["prompt_id"] for r in tagged} & set(split)), len({r["task"] for r in tagged})

    (before, tasks), (after, _) = subtraction_rows(free.run_id), subtraction_rows(capped.run_id)
    assert tasks == 2 and before > after and after <= 0.05 * free.counts["rl_prompts"] + 1


def test_compose_tags_composed_prompts_with_their_pair(extraction_runs):
    lake, (summary, _) = extraction_runs
    composed = rows(lake, "SELECT prompt_id FROM prompts WHERE source = 'synthesis:compose'")
    assert len(composed) == summary.counts["synthetic_prompts"] == 3
    links = rows(lake, "SELECT prompt_id, count(*) AS n FROM prompt_skills WHERE origin = 'synthesis' GROUP BY ALL")
    assert sorted(r["prompt_id"] for r in links) == sorted(r["prompt_id"] for r in composed)
    assert {r["n"] for r in links} == {2}


def weakest_pair(lake: Lake, run_id: str) -> list[str]:
    """The names of the weakest pair of a run's profile: its two lowest pass rates."""
    profile = rows(lake, f"SELECT name, pass_rate FROM skill_profile WHERE run_id = '{run_id}' "
                         "AND pass_rate IS NOT NULL AND n_prompts >= 2 ORDER BY pass_rate, name LIMIT 2")
    return sorted(r["name"] for r in profile)


def test_model_synthesis_writes_verified_questions_for_the_weakest_pair(synthesis_runs):
    lake, first, second, pair = synthesis_runs
    written = rows(lake, "SELECT * FROM prompts WHERE source = 'synthesis:model'")
    assert 0 < len(written) == second.counts["synthetic_prompts"] < SYNTHESIS["n_prompts"]
    for row in written:
        meta = json.loads(row["metadata"])
        assert sorted(meta["skills"]) == pair and meta["profile_runs"] == [first.run_id]
        assert meta["verified_by"] == "agreement" and meta["agreement"] >= 0.75 and meta["k"] == 4
        red, blue = map(int, re.search(r"holds (\d+) red and (\d+) blue", row["prompt"]).groups())
        assert row["verifier"] == "math" and row["answer"] == str(red + blue)  # the agreed gold is right
    # both runs recorded their profile under the policy's fingerprint, by which the second found the first's
    assert rows(lake, "SELECT DISTINCT policy FROM skill_profile") == [{"policy": FakePolicy({}).identity().fingerprint}]
    drops = rows(lake, "SELECT reason FROM filter_log WHERE step = 'skill_synthesis'")
    reasons = {r["reason"].split(":")[0] for r in drops}
    assert {"no problem in the reply", "the problem was cut off at max_tokens", "answers disagree"} <= reasons
    assert len(drops) == second.counts["dropped:synthesis"] == SYNTHESIS["n_prompts"] - len(written)
    # tagged with both skills of the pair, so this run's profile measures them
    tagged = rows(lake, "SELECT s.name FROM prompt_skills ps JOIN skills s USING (skill_id) "
                        "WHERE ps.origin = 'synthesis'")
    assert sorted({r["name"] for r in tagged}) == pair
    # the splits now hold more prompts that exercise the weakest pair: the direction STAT-Syn intends
    assert pair_rows_in_rl(lake, first.run_id, pair) < pair_rows_in_rl(lake, second.run_id, pair)


def pair_rows_in_rl(lake: Lake, run_id: str, pair: list[str]) -> int:
    """RL split rows of a run whose prompt is tagged with both skills of the pair."""
    split = rows(lake, f"SELECT row_ids FROM splits WHERE run_id = '{run_id}' AND kind = 'rl'")[0]["row_ids"]
    names = ", ".join(f"'{n}'" for n in pair)
    both = rows(lake, f"SELECT ps.prompt_id FROM prompt_skills ps JOIN skills s USING (skill_id) "
                      f"WHERE s.name IN ({names}) GROUP BY ps.prompt_id HAVING count(DISTINCT s.name) = 2")
    return len({r["prompt_id"] for r in both} & set(split))


def test_synthesis_without_a_profile_fails_before_sampling(tmp_path, monkeypatch, synthesis_runs):
    calls = []
    monkeypatch.setattr(curation.backends, "load_backend", lambda *a, **k: calls.append(a))
    with pytest.raises(InputError, match="no skill_profile of this policy \\(model 'fake-policy', fingerprint"):
        run_curation(validate(config(tmp_path, synthesis=SYNTHESIS)))
    assert calls == [] and not Lake(tmp_path / "lake").exists()

    lake = synthesis_runs[0]  # a lake with profiles, but not of this run
    version = lake.latest_version()
    raw = {**config(tmp_path, synthesis={**SYNTHESIS, "profile_run": "nope"}), "lake": str(lake.location)}
    with pytest.raises(InputError, match="no skill_profile rows of run 'nope'"):
        run_curation(validate(raw))
    assert calls == [] and lake.latest_version() == version
