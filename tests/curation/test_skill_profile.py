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


def test_stat_sel_rounds_weights_by_a_seeded_draw_and_caps_copies():
    stats, links, skills = data()
    cfg = SkillProfileConfig(boost=1.0, base_weight=0.5, max_copies=1)  # gcd weight 1.25 -> 1 copy (cap)
    profile = missing_skill_profile(stats, links, skills, cfg)
    sft = sft_rows(stats.column("prompt_id").to_pylist())
    result = stat_upsample(sft, cfg, prompt_skills=links, profile=profile)
    kept = result.kept.column("prompt_id").to_pylist()
    assert {"p4", "p5", "p6", "p7"} <= set(kept) and len(kept) == len(set(kept))
    assert 0 < result.dropped.num_rows < 5  # weight 0.5: about half of the other rows are not drawn
    assert all("drawn 0 times" in r for r in result.dropped.column("reason").to_pylist())
    again = stat_upsample(sft, cfg, prompt_skills=links, profile=profile)
    assert again.kept.equals(result.kept)


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
