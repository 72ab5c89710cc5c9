"""Mixing under a budget: SFT vs preference vs RL shares, quotas per group, DMT two-stage SFT.

Balancing the Budget: a small SFT share (<= 10%) before preference/RL training avoids the cold
start, so `sft_share` defaults to 0.1. DMT (dual-stage mixed fine-tuning): specialist data
first, then general data mixed with a fraction of the specialist data to prevent forgetting.
"""

import hashlib
import math
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curation.step import StepResult, drop_log
from schemas.config import StrictModel
from schemas.errors import ConfigError, InputError, SplitError
from schemas.tables import ROW_ID

SPLIT_TABLES = {"sft": "sft_examples", "preference": "preference_pairs", "rl": "rl_prompts"}
CHARS_PER_TOKEN = 4  # rough estimate when a table carries no token counts


class QuotaConfig(StrictModel):
    """Most share of a split's budget one group may take; key "*" caps every other value."""

    per_source: dict[str, float] = Field(default_factory=dict, description="cap per prompts.source")
    per_task: dict[str, float] = Field(default_factory=dict, description="cap per prompts.task")
    per_skill: dict[str, float] = Field(default_factory=dict, description="cap per skill name")
    per_bucket: dict[str, float] = Field(default_factory=dict, description="cap per difficulty bucket")

    @field_validator("per_source", "per_task", "per_skill", "per_bucket")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        for key, share in value.items():
            if not 0.0 < share <= 1.0:
                raise ValueError(f"quota '{key}' is {share}; a share must be in (0, 1]")
        return value


class DMTConfig(StrictModel):
    """Dual-stage mixed fine-tuning of the SFT split: `warmstart train sft` (and the loop) trains
    stage 1, then stage 2 from the stage-1 checkpoint."""

    enabled: bool = Field(False, description="split SFT into a specialist stage and a mixed stage")
    specialist_tasks: list[str] = Field(default_factory=list,
                                        description="tasks (or sources) whose examples are specialist data")
    replay_fraction: float = Field(0.25, ge=0.0, le=1.0,
                                   description="share of specialist examples replayed in stage 2")

    @model_validator(mode="after")
    def _two_stages(self):
        if self.enabled and not self.specialist_tasks:
            raise ValueError("enabled needs specialist_tasks (stage 1); the other tasks are stage 2")
        return self


def is_specialist(attr: dict, cfg: DMTConfig) -> bool:
    """Whether a prompt (its task and source) is DMT stage-1 specialist data."""
    return attr.get("task") in cfg.specialist_tasks or attr.get("source") in cfg.specialist_tasks


def check_dmt(cfg: DMTConfig, prompts: pa.Table) -> None:
    """DMT needs two stages before anything is sampled: every specialist name must be a task or
    source of the prompts, and some prompts must be general (stage 2) data."""
    if not cfg.enabled:
        return
    attrs = prompts.select(["task", "source"]).to_pylist()
    known = {a["task"] for a in attrs} | {a["source"] for a in attrs}
    unknown = [name for name in cfg.specialist_tasks if name not in known]
    if unknown:
        raise ConfigError(f"mix.dmt.specialist_tasks: {', '.join(unknown)} is no task or source of the prompts "
                          f"(tasks and sources: {', '.join(sorted(k for k in known if k))})")
    if all(is_specialist(a, cfg) for a in attrs):
        raise ConfigError("mix.dmt: every prompt is specialist data, so stage 2 (general data) would be empty; "
                          "list fewer specialist_tasks or add general sources")


class MixConfig(StrictModel):
    """Budget and quotas of the curated splits."""

    budget: int | None = Field(None, ge=1, description="total examples or tokens; null = no budget")
    unit: Literal["examples", "tokens"] = Field("examples", description="what the budget counts")
    sft_share: float = Field(0.1, ge=0.0, le=1.0, description="budget share of the SFT warm-up")
    rl_share: float = Field(0.5, ge=0.0, le=1.0,
                            description="share of the non-SFT budget for RL prompts (rest: preference)")
    quotas: QuotaConfig = Field(default_factory=QuotaConfig)
    dmt: DMTConfig = Field(default_factory=DMTConfig)
    cost_column: str = Field("n_tokens", description="column with a row's tokens, when unit=tokens")
    seed: int = Field(0, ge=0, description="seed of the order among equally weighted rows")


def stable_uniform(ids: list[str], seed: int) -> np.ndarray:
    """A uniform number in (0, 1) per id that depends only on (id, seed), not on row order."""
    out = np.empty(len(ids))
    for i, rid in enumerate(ids):
        digest = hashlib.blake2b(f"{seed}:{rid}".encode(), digest_size=8).digest()
        out[i] = (int.from_bytes(digest, "big") + 0.5) / 2.0**64
    return out


def weighted_order(ids: list[str], weights, seed: int) -> list[int]:
    """Row order of a weighted sample without replacement (Efraimidis-Spirakis keys u^(1/w)).

    Taking the first n rows of this order draws n rows with probability growing with weight;
    zero-weight rows come last.
    """
    weights = np.asarray(weights, dtype=float)
    if len(weights) and (weights < 0).any():
        raise InputError("sampling weights must be >= 0")
    u = stable_uniform(ids, seed)
    with np.errstate(divide="ignore"):
        keys = np.where(weights > 0, np.log(u) / np.where(weights > 0, weights, 1.0), -np.inf)
    return sorted(range(len(ids)), key=lambda i: (-keys[i], ids[i]))


def split_budget(cfg: MixConfig) -> dict[str, int | None]:
    """The budget of each split: SFT gets `sft_share`, the rest splits by `rl_share`."""
    if cfg.budget is None:
        return {"sft": None, "preference": None, "rl": None}
    sft = math.floor(cfg.budget * cfg.sft_share)
    rl = math.floor((cfg.budget - sft) * cfg.rl_share)
    return {"sft": sft, "preference": cfg.budget - sft - rl, "rl": rl}


def prompt_attributes(prompts: pa.Table, prompt_stats: pa.Table | None = None,
                      prompt_skills: pa.Table | None = None, skills: pa.Table | None = None) -> pa.Table:
    """Per prompt: source, task, difficulty_bucket and skill names, for quotas and DMT."""
    bucket = {}
    if prompt_stats is not None:
        bucket = dict(zip(prompt_stats.column("prompt_id").to_pylist(),
                          prompt_stats.column("difficulty_bucket").to_pylist()))
    names: dict[str, list[str]] = {}
    if prompt_skills is not None and skills is not None:
        skill_name = dict(zip(skills.column("skill_id").to_pylist(), skills.column("name").to_pylist()))
        for pid, sid in zip(prompt_skills.column("prompt_id").to_pylist(),
                            prompt_skills.column("skill_id").to_pylist()):
            names.setdefault(pid, []).append(skill_name.get(sid, sid))
    ids = prompts.column("prompt_id").to_pylist()
    return pa.table({
        "prompt_id": ids,
        "source": prompts.column("source").to_pylist(),
        "task": prompts.column("task").to_pylist(),
        "difficulty_bucket": pa.array([bucket.get(p) for p in ids], pa.string()),
        "skills": pa.array([sorted(set(names.get(p, []))) for p in ids], pa.list_(pa.string())),
    })


def row_costs(rows: pa.Table, cfg: MixConfig) -> list[float]:
    """Each row's cost: 1 per example, or its tokens (a column, else a character estimate)."""
    if cfg.unit == "examples":
        return [1.0] * rows.num_rows
    if cfg.cost_column in rows.column_names:
        return [float(v or 0) for v in rows.column(cfg.cost_column).to_pylist()]
    chars = [0] * rows.num_rows
    for name in ("prompt", "chosen", "rejected"):
        if name in rows.column_names:
            chars = [c + len(v or "") for c, v in zip(chars, rows.column(name).to_pylist())]
    if "messages" in rows.column_names:
        chars = [c + sum(len(m["content"] or "") for m in (v or []))
                 for c, v in zip(chars, rows.column("messages").to_pylist())]
    return [max(1.0, c / CHARS_PER_TOKEN) for c in chars]


def _groups(attr: dict | None) -> list[tuple[str, str]]:
    if attr is None:
        return []
    out = [("source", attr["source"]), ("task", attr["task"]), ("bucket", attr["difficulty_bucket"])]
    return out + [("skill", s) for s in attr["skills"]]


def _cap(quotas: QuotaConfig, kind: str, value, budget: float) -> float:
    table = {"source": quotas.per_source, "task": quotas.per_task,
             "skill": quotas.per_skill, "bucket": quotas.per_bucket}[kind]
    share = table.get(value, table.get("*")) if value is not None else table.get("*")
    return math.inf if share is None else share * budget


def fill_budget(rows: pa.Table, attrs: pa.Table, budget: float | None, cfg: MixConfig,
                *, table_name: str) -> StepResult:
    """Keep rows in priority order (a `weight` column if present, e.g. STAT-Sel's) while the
    budget and every group quota allow; the others are dropped with the reason (step mix)."""
    id_col = ROW_ID[table_name]
    for col in (id_col, "prompt_id"):
        if col not in rows.column_names:
            raise InputError(f"table '{table_name}' has no column '{col}'", field=col)
    ids = rows.column(id_col).to_pylist()
    weights = rows.column("weight").to_pylist() if "weight" in rows.column_names else [1.0] * len(ids)
    attr_of = {a["prompt_id"]: a for a in attrs.to_pylist()}
    costs, prompt_ids = row_costs(rows, cfg), rows.column("prompt_id").to_pylist()
    total = math.inf if budget is None else float(budget)
    quota_base = sum(costs) if budget is None else float(budget)  # no budget: shares of the pool
    used: dict[tuple[str, str], float] = {}
    spent, keep, dropped = 0.0, [], []
    for i in weighted_order(ids, weights, cfg.seed):
        groups = _groups(attr_of.get(prompt_ids[i]))
        if spent + costs[i] > total:
            dropped.append((ids[i], "budget"))
            continue
        full = [g for g in groups
                if used.get(g, 0.0) + costs[i] > _cap(cfg.quotas, g[0], g[1], quota_base) + 1e-9]
        if full:
            dropped.append((ids[i], f"quota:{full[0][0]}={full[0][1]}"))
            continue
        spent += costs[i]
        for g in groups:
            used[g] = used.get(g, 0.0) + costs[i]
        keep.append(i)
    kept = rows.take(pa.array(sorted(keep), pa.int64()))
    return StepResult(kept, drop_log(dropped, table_name, "mix"))


def dmt_schedule(sft: pa.Table, attrs: pa.Table, cfg: MixConfig) -> pa.Table:
    """SFT rows with `mix_stage`: 1 = specialist data, 2 = general data plus a replayed
    `replay_fraction` of the specialist rows (so those appear twice). Disabled: all stage 1.
    Enabled, both stages must keep rows (a SplitError otherwise: DMT would be one stage)."""
    stage_col = "mix_stage"
    if not cfg.dmt.enabled:
        return sft.append_column(stage_col, pa.array([1] * sft.num_rows, pa.int64()))
    attr_of = {a["prompt_id"]: a for a in attrs.to_pylist()}
    is_special = [is_specialist(attr_of.get(pid) or {}, cfg.dmt) for pid in sft.column("prompt_id").to_pylist()]
    spec_rows = [i for i, s in enumerate(is_special) if s]
    general_rows = [i for i, s in enumerate(is_special) if not s]
    if not spec_rows or not general_rows:
        empty = "1 (specialist)" if not spec_rows else "2 (general)"
        raise SplitError(f"mix.dmt: no SFT example is left for stage {empty} after filtering and the budget; "
                         "DMT needs both stages (check mix.dmt.specialist_tasks, mix.budget, sft_share)")
    ids = [sft.column(ROW_ID["sft_examples"])[i].as_py() for i in spec_rows]
    n_replay = round(len(spec_rows) * cfg.dmt.replay_fraction)
    replay = [spec_rows[j] for j in sorted(weighted_order(ids, [1.0] * len(ids), cfg.seed)[:n_replay])]
    order = spec_rows + general_rows + replay
    stages = [1] * len(spec_rows) + [2] * (len(general_rows) + len(replay))
    return sft.take(order).append_column(stage_col, pa.array(stages, pa.int64()))


def mix_split(rows: pa.Table, cfg: MixConfig, *, attributes: pa.Table, table_name: str) -> StepResult:
    """One split under its share of the budget and the quotas; the SFT split also gets DMT stages.
    `attributes` is prompt_attributes() of the run's prompts."""
    kind = {table: kind for kind, table in SPLIT_TABLES.items()}[table_name]
    result = fill_budget(rows, attributes, split_budget(cfg)[kind], cfg, table_name=table_name)
    if kind != "sft":
        return result
    return StepResult(dmt_schedule(result.kept, attributes, cfg), result.dropped)
