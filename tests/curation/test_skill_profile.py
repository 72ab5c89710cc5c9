"""Missing-Skill-Profile, STAT weights and STAT-Sel up-sampling of the SFT split."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.mixing import MixConfig, fill_budget, prompt_attributes
from curation.skill_profile import (
    SkillProfileConfig,
    missing_skill_profile,
    missing_skills,
    stat_upsample,
    stat_weights,
)
from schemas.errors import InputError


def data():
    # add: 4 prompts, 30/32 correct; gcd: 4 prompts, 4/32 correct; sort: 1 prompt, 0/8.
    ids = [f"p{i}" for i in range(9)]
    correct = [8, 8, 7, 7, 1, 1, 1, 1, 0]
    stats = pa.table({"prompt_id": ids, "model": ["m"] * 9, "k": [8] * 9, "n_correct": correct})
    skill_of = ["add"] * 4 + ["gcd"] * 4 + ["sort"]
    links = pa.table({"prompt_id": ids, "skill_id": skill_of, "confidence": [1.0] * 9})
    skills = pa.table({"skill_id": ["add", "gcd", "sort"], "name": ["addition", "gcd", "sorting"]})
    return stats, links, skills


def test_profile_marks_low_pass_rate_skills_missing():
    stats, links, skills = data()
    profile = {r["skill_id"]: r for r in missing_skill_profile(stats, links, skills, SkillProfileConfig()).to_pylist()}
    assert profile["add"]["pass_rate"] == pytest.approx(30 / 32) and not profile["add"]["missing"]
    assert profile["gcd"]["missing"] and profile["gcd"]["deficit"] == pytest.approx((0.5 - 4 / 32) / 0.5)
    assert not profile["sort"]["missing"]  # one prompt < min_prompts
    assert profile["gcd"]["n_failures"] == 28 and profile["gcd"]["ci_low"] < 0.125 < profile["gcd"]["ci_high"]


def test_confidence_weights_pass_rate():
    stats, links, skills = data()
    links = links.set_column(2, "confidence", pa.array([1.0] * 4 + [0.1, 0.1, 1.0, 1.0] + [1.0]))
    profile = missing_skill_profile(stats, links, skills, SkillProfileConfig(min_confidence=0.5))
    gcd = [r for r in profile.to_pylist() if r["skill_id"] == "gcd"][0]
    assert gcd["n_prompts"] == 2


def sft_rows(prompt_ids):
    return pa.table({"example_id": [f"e{i}" for i in range(len(prompt_ids))], "prompt_id": prompt_ids,
                     "messages": [[{"role": "assistant", "content": p}] for p in prompt_ids]})


def missing_share(table) -> float:
    return sum(p in {"p4", "p5", "p6", "p7"} for p in table.column("prompt_id").to_pylist()) / table.num_rows


def test_stat_weights_favour_missing_skills():
    stats, links, skills = data()
    cfg = SkillProfileConfig(boost=4.0)
    profile = missing_skill_profile(stats, links, skills, cfg)
    assert missing_skills(profile) == ["gcd"]
    rows = pa.table({"prompt_id": stats.column("prompt_id")})
    weights = stat_weights(rows, cfg, prompt_skills=links, profile=profile).kept.column("weight").to_pylist()
    assert weights[0] == 1.0 and weights[4] == pytest.approx(1 + 4 * 0.75)


def test_stat_sel_raises_the_share_of_missing_skill_examples_without_a_budget():
    """On: gcd (missing, deficit 0.75, weight 4) examples appear 4 times, the others once: their
    share goes from 4/9 to 16/21. Off (boost 0): the split is unchanged."""
    stats, links, skills = data()
    on = SkillProfileConfig(boost=4.0)
    profile = missing_skill_profile(stats, links, skills, on)
    sft = sft_rows(stats.column("prompt_id").to_pylist())
    result = stat_upsample(sft, on, prompt_skills=links, profile=profile)
    assert missing_share(sft) == pytest.approx(4 / 9)
    assert result.kept.num_rows == 21 and missing_share(result.kept) == pytest.approx(16 / 21)
    ids = result.kept.column("example_id").to_pylist()
    assert len(set(ids)) == 21 and {"e0", "e4"} <= set(ids)  # originals keep their id, copies get new ones
    mix = {r["skill_id"]: r for r in result.side["skill_mix"].to_pylist()}
    assert (mix["gcd"]["n_before"], mix["gcd"]["n_after"]) == (4, 16) and mix["gcd"]["missing"]
    assert mix["gcd"]["share_after"] > mix["gcd"]["share_before"] and mix["add"]["share_after"] < mix["add"]["share_before"]
    off = stat_upsample(sft, on.model_copy(update={"boost": 0.0}), prompt_skills=links, profile=profile)
    assert off.kept.equals(sft) and off.dropped.num_rows == 0


def test_stat_sel_copies_are_relative_rounded_by_a_seeded_draw_and_capped():
    stats, links, skills = data()
    profile = missing_skill_profile(stats, links, skills, SkillProfileConfig())
    sft = sft_rows(stats.column("prompt_id").to_pylist())

    def copies(**options):
        kept = stat_upsample(sft, SkillProfileConfig(**options), prompt_skills=links, profile=profile).kept
        ids = kept.column("prompt_id").to_pylist()
        return [ids.count(f"p{i}") for i in range(9)]

    # gcd weight 2.5: 2 or 3 copies per row by a seeded draw, 2.5 on average; the others once
    draws = [copies(boost=2.0, seed=seed) for seed in range(20)]
    assert all(d[:4] == [1] * 4 and d[8] == 1 and set(d[4:8]) <= {2, 3} for d in draws)
    assert draws[0] == copies(boost=2.0, seed=0) and 2.3 < sum(sum(d[4:8]) for d in draws) / 80 < 2.7
    assert copies(boost=1.0, base_weight=0.5, max_copies=2) == [1] * 4 + [2] * 4 + [1]  # ratio 2.5, capped
    assert copies(boost=4.0, base_weight=0.0) == [0] * 4 + [1] * 4 + [0]  # only missing-skill rows, once each
    no_gap = pa.table({"prompt_id": ["p4", "p5"], "example_id": ["a", "b"]})
    assert stat_upsample(no_gap, SkillProfileConfig(boost=4.0), prompt_skills=links,
                         profile=profile).kept.num_rows == 2  # equal weights: nothing to re-weight


def test_weights_drive_mixing_priority():
    stats, links, skills = data()
    cfg = SkillProfileConfig(base_weight=0.0)
    profile = missing_skill_profile(stats, links, skills, cfg)
    prompts = pa.table({"prompt_id": stats.column("prompt_id"), "source": ["rg"] * 9, "task": ["t"] * 9})
    rl = stat_weights(prompts.select(["prompt_id"]), cfg, prompt_skills=links, profile=profile).kept
    kept = fill_budget(rl, prompt_attributes(prompts), 4, MixConfig(), table_name="rl_prompts").kept
    assert sorted(kept.column("prompt_id").to_pylist()) == ["p4", "p5", "p6", "p7"]


def test_unused_skill_and_bad_input():
    stats, links, skills = data()
    extra = pa.concat_tables([skills, pa.table({"skill_id": ["new"], "name": ["untagged"]})])
    row = missing_skill_profile(stats, links, extra, SkillProfileConfig()).to_pylist()[-1]
    assert row["n_prompts"] == 0 and row["pass_rate"] is None and not row["missing"]
    with pytest.raises(ValidationError):
        SkillProfileConfig(missing_threshold=1.2)
    stats, links, skills = data()
    with pytest.raises(InputError, match="n_correct"):
        missing_skill_profile(stats.drop_columns(["n_correct"]), links, skills, SkillProfileConfig())
