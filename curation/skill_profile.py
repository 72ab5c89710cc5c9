"""Missing-Skill-Profile and STAT-Sel (Skill-Targeted Adaptive Training).

The profile is the policy's pass rate per skill over the prompts tagged with it (samples
weighted by tag confidence); skills below `missing_threshold` are missing. STAT-Sel then
reweights any split (SFT examples, preference pairs, RL prompts: anything with prompt_id)
toward prompts that exercise missing skills, in proportion to each skill's deficit.
"""

import pyarrow as pa
from pydantic import Field

from curation.difficulty import wilson_interval
from curation.mixing import weighted_order
from curation.step import StepResult, drop_log
from schemas.config import StrictModel
from schemas.errors import InputError
from schemas.tables import ROW_ID, TABLES

PROFILE = TABLES["skill_profile"]


class SkillProfileConfig(StrictModel):
    """Which skills count as missing, and how strongly selection favours them."""

    missing_threshold: float = Field(0.5, ge=0.0, le=1.0, description="skills below this pass rate are missing")
    min_prompts: int = Field(2, ge=1, description="skills tagged on fewer prompts are never judged missing")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="ignore skill tags below this confidence")
    z: float = Field(1.96, gt=0.0, le=5.0, description="normal quantile of the Wilson interval")
    boost: float = Field(4.0, ge=0.0, description="extra weight of a prompt whose skill is fully missing")
    base_weight: float = Field(1.0, ge=0.0, description="weight of prompts with no missing skill (0: drop them)")
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
                          cfg: SkillProfileConfig) -> pa.Table:
    """Per skill: prompts, samples, failures, confidence-weighted pass rate, Wilson interval,
    deficit = (threshold - pass_rate) / threshold when missing, else 0."""
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
                     "ci_high": high, "deficit": deficit, "missing": missing})
    schema = pa.schema([f for f in PROFILE.schema if f.name != "run_id"])
    return pa.Table.from_pylist(rows, schema=schema)


def stat_weights(rows: pa.Table, cfg: SkillProfileConfig, *, prompt_skills: pa.Table,
                 profile: pa.Table) -> StepResult:
    """STAT: every row kept, with a `weight` column: base_weight + boost * sum of (confidence *
    deficit) over the prompt's missing skills. Mixing reads this column as selection priority."""
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


def stat_select(rows: pa.Table, prompt_skills: pa.Table, profile: pa.Table, cfg: SkillProfileConfig,
                n: int, *, table_name: str) -> StepResult:
    """STAT-Sel: draw n rows without replacement, probability growing with the STAT weight;
    kept = the selected rows with their weight. Zero-weight rows are never drawn."""
    weighted = stat_weights(rows, cfg, prompt_skills=prompt_skills, profile=profile).kept
    id_col = ROW_ID.get(table_name, "prompt_id")
    ids = weighted.column(id_col).to_pylist()
    weights = weighted.column("weight").to_pylist()
    order = [i for i in weighted_order(ids, weights, cfg.seed) if weights[i] > 0]
    chosen = sorted(order[:n])
    chosen_set = set(chosen)
    dropped = [(ids[i], "stat-sel: not drawn" if weights[i] > 0 else "stat-sel: no missing skill")
               for i in range(len(ids)) if i not in chosen_set]
    return StepResult(weighted.take(pa.array(chosen, pa.int64())),
                      drop_log(dropped, table_name, "stat_select"))


def missing_skills(profile: pa.Table) -> list[str]:
    """skill_ids of the missing skills, most deficient first."""
    rows = [r for r in profile.to_pylist() if r["missing"]]
    return [r["skill_id"] for r in sorted(rows, key=lambda r: (-r["deficit"], r["skill_id"]))]
