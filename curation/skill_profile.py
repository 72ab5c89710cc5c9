"""Missing-Skill-Profile and STAT-Sel (Skill-Targeted Adaptive Training).

The profile is the policy's pass rate per skill over the prompts tagged with it (samples
weighted by tag confidence); skills below `missing_threshold` are missing. Each row of a split
gets a STAT weight: base_weight + boost x its prompt's deficit over missing skills. STAT-Sel then
re-draws the SFT split by that weight: an example appears in proportion to it, the least weighted
once (copies with their own example_id, at most `max_copies`), so missing-skill examples take a
larger share of the split with or without a budget. Preference pairs and RL prompts carry the weight as their priority
under a mix budget or quota (a prompt cannot repeat in those splits).
"""

import math
from collections import Counter

import pyarrow as pa
from pydantic import Field

from curation.difficulty import wilson_interval
from curation.mixing import stable_uniform
from curation.step import StepResult, drop_log
from schemas.config import StrictModel
from schemas.errors import InputError
from schemas.ids import content_id
from schemas.tables import ROW_ID, TABLES, step_schema

PROFILE = TABLES["skill_profile"]


class SkillProfileConfig(StrictModel):
    """Which skills count as missing, and how strongly selection favours them."""

    missing_threshold: float = Field(0.5, ge=0.0, le=1.0, description="skills below this pass rate are missing")
    min_prompts: int = Field(2, ge=1, description="skills tagged on fewer prompts are never judged missing")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="ignore skill tags below this confidence")
    z: float = Field(1.96, gt=0.0, le=5.0, description="normal quantile of the Wilson interval")
    boost: float = Field(4.0, ge=0.0, description="extra weight of a prompt whose skill is fully missing")
    base_weight: float = Field(1.0, ge=0.0, description="weight of prompts with no missing skill (0: drop them)")
    max_copies: int = Field(4, ge=1, le=64, description="STAT-Sel: most copies of one SFT example (1: none)")
    model: str | None = Field(None, description="prompt_stats model; null: the only one")
    seed: int = Field(0, ge=0)


def _stats(prompt_stats: pa.Table, cfg: SkillProfileConfig) -> dict[str, dict]:
    for col in ("prompt_id", "k", "n_correct"):
        if col not in prompt_stats.column_names:
            raise InputError(f"prompt_stats has no column '{col}'", field=col)
    rows = prompt_stats.to_pylist()
    if cfg.model is not None:
        rows = [r for r in rows if r.get("model") == cfg.model]
    out = {}
    for r in rows:
        if r["prompt_id"] in out:
            raise InputError(f"prompt_stats has several models for prompt {r['prompt_id']}; set the model",
                             field="model")
        out[r["prompt_id"]] = r
    return out


def missing_skill_profile(prompt_stats: pa.Table, prompt_skills: pa.Table, skills: pa.Table,
                          cfg: SkillProfileConfig, *, policy: str | None = None) -> pa.Table:
    """Per skill: prompts, samples, failures, confidence-weighted pass rate, Wilson interval,
    deficit = (threshold - pass_rate) / threshold when missing, else 0. `policy` is the sampling
    model's fingerprint, which the lake keys (and finds) a profile by."""
    stats = _stats(prompt_stats, cfg)
    acc: dict[str, list[float]] = {}  # skill -> [prompts, samples, failures, weighted correct, weighted k]
    for link in prompt_skills.to_pylist():
        st = stats.get(link["prompt_id"])
        conf = link.get("confidence", 1.0) or 0.0
        if st is None or conf < cfg.min_confidence or not st["k"]:
            continue
        a = acc.setdefault(link["skill_id"], [0, 0, 0, 0.0, 0.0])
        a[0] += 1
        a[1] += st["k"]
        a[2] += st["k"] - st["n_correct"]
        a[3] += conf * st["n_correct"]
        a[4] += conf * st["k"]
    model = cfg.model or next((r.get("model") for r in stats.values()), None)
    rows = []
    for sid, name in zip(skills.column("skill_id").to_pylist(), skills.column("name").to_pylist()):
        n_prompts, n_samples, n_fail, w_correct, w_k = acc.get(sid, [0, 0, 0, 0.0, 0.0])
        rate = w_correct / w_k if w_k else None
        low, high = wilson_interval(n_samples - n_fail, n_samples, cfg.z) if n_samples else (0.0, 1.0)
        missing = rate is not None and n_prompts >= cfg.min_prompts and rate < cfg.missing_threshold
        deficit = (cfg.missing_threshold - rate) / cfg.missing_threshold if missing else 0.0
        rows.append({"skill_id": sid, "name": name, "model": model, "n_prompts": n_prompts,
                     "n_samples": n_samples, "n_failures": n_fail, "pass_rate": rate, "ci_low": low,
                     "ci_high": high, "deficit": deficit, "missing": missing, "policy": policy})
    schema = pa.schema([f for f in PROFILE.schema if f.name != "run_id"])
    return pa.Table.from_pylist(rows, schema=schema)


def stat_weights(rows: pa.Table, cfg: SkillProfileConfig, *, prompt_skills: pa.Table,
                 profile: pa.Table) -> StepResult:
    """STAT: every row kept, with a `weight` column: base_weight + boost * sum of (confidence *
    deficit) over the prompt's missing skills. Mixing reads this column as selection priority;
    stat_upsample as the relative number of copies."""
    if "prompt_id" not in rows.column_names:
        raise InputError("rows to reweight need a prompt_id column", field="prompt_id")
    deficit = {r["skill_id"]: r["deficit"] for r in profile.to_pylist() if r["missing"]}
    score: dict[str, float] = {}
    for link in prompt_skills.to_pylist():
        conf = link.get("confidence") or 0.0
        if link["skill_id"] in deficit and conf >= cfg.min_confidence:
            score[link["prompt_id"]] = score.get(link["prompt_id"], 0.0) + conf * deficit[link["skill_id"]]
    weights = [cfg.base_weight + cfg.boost * score.get(p, 0.0) for p in rows.column("prompt_id").to_pylist()]
    if "weight" in rows.column_names:
        rows = rows.drop_columns(["weight"])
    return StepResult(rows.append_column("weight", pa.array(weights, pa.float64())))


def stat_upsample(rows: pa.Table, cfg: SkillProfileConfig, *, prompt_skills: pa.Table, profile: pa.Table,
                  table_name: str = "sft_examples") -> StepResult:
    """STAT-Sel over SFT examples: each row appears in proportion to its STAT weight, the least
    weighted rows once (weight / smallest positive weight, the fraction rounded up for a seeded
    share of rows, at most max_copies); copies get ids content_id("stat", id, copy). Equal
    weights leave the split as it is; weight-0 rows are dropped. Side table skill_mix: examples
    per skill before and after."""
    weights = stat_weights(rows, cfg, prompt_skills=prompt_skills, profile=profile).kept.column("weight").to_pylist()
    id_col = ROW_ID[table_name]
    ids = rows.column(id_col).to_pylist()
    unit = min((w for w in weights if w > 0), default=1.0)
    ratios = [w / unit for w in weights]
    copies = [min(cfg.max_copies, math.floor(r + 1e-9) + (u < r - math.floor(r + 1e-9)))
              for r, u in zip(ratios, stable_uniform(ids, cfg.seed))]
    take = [i for i, n in enumerate(copies) for _ in range(n)]
    new_ids = [ids[i] if c == 0 else content_id("stat", ids[i], c) for i, n in enumerate(copies) for c in range(n)]
    drawn = rows.take(pa.array(take, pa.int64()))
    drawn = drawn.set_column(drawn.column_names.index(id_col), id_col, pa.array(new_ids, pa.string()))
    dropped = [(ids[i], "stat-sel: weight 0 (no missing skill, base_weight 0)") for i, n in enumerate(copies) if n == 0]
    mix = skill_mix(rows.column("prompt_id").to_pylist(), drawn.column("prompt_id").to_pylist(), prompt_skills,
                    profile, cfg, table_name=table_name)
    return StepResult(drawn, drop_log(dropped, table_name, "stat_sel"), {"skill_mix": mix})


def skill_mix(before: list[str], after: list[str], prompt_skills: pa.Table, profile: pa.Table,
              cfg: SkillProfileConfig, *, table_name: str) -> pa.Table:
    """Per skill of the profile: rows (by their prompt ids) and share of rows before and after."""
    skills_of: dict[str, list[str]] = {}
    for link in prompt_skills.to_pylist():
        if (link.get("confidence") or 0.0) >= cfg.min_confidence:
            skills_of.setdefault(link["prompt_id"], []).append(link["skill_id"])
    counts = [Counter(s for pid in pids for s in skills_of.get(pid, [])) for pids in (before, after)]
    rows = [{"table_name": table_name, "skill_id": r["skill_id"], "name": r["name"], "missing": r["missing"],
             "n_before": counts[0][r["skill_id"]], "n_after": counts[1][r["skill_id"]],
             "share_before": counts[0][r["skill_id"]] / max(1, len(before)),
             "share_after": counts[1][r["skill_id"]] / max(1, len(after))} for r in profile.to_pylist()]
    return pa.Table.from_pylist(rows, schema=step_schema("skill_mix"))


def missing_skills(profile: pa.Table) -> list[str]:
    """skill_ids of the missing skills, most deficient first."""
    rows = [r for r in profile.to_pylist() if r["missing"]]
    return [r["skill_id"] for r in sorted(rows, key=lambda r: (-r["deficit"], r["skill_id"]))]
