"""Easy-to-hard curriculum stages over the RL prompts, with difficulty-aware retrospective sampling.

Stages come from pass-rate buckets (or pass-rate quantiles), easiest first (iTool, SARI,
QwenLong-L1). Each later stage also re-draws a fraction of its prompts from earlier stages,
weighted by difficulty = 1 / pass_rate (QwenLong-L1's retrospective sampling), so hard prompts
the policy has not yet solved keep coming back; a prompt it solves every time never does. A
prompt has one home stage in rl_prompts.curriculum_stage; the schedule table lists every
(stage, prompt) including replays. GRPO trains by this schedule (trainers/retrospective.py): it
keeps each stage's replay count and re-draws the replayed prompts with the same weights from the
pass rates its own rollouts measured, so the prompts that stayed hard come back.
"""

import math

import pyarrow as pa
from pydantic import Field, model_validator

from curation.mixing import stable_uniform, weighted_order
from curation.step import StepResult, drop_log
from schemas.config import StrictModel
from schemas.errors import ConfigError, InputError
from schemas.tables import TABLES

SCHEDULE = TABLES["curriculum_schedule"]


class CurriculumConfig(StrictModel):
    """How RL prompts are cut into stages, easiest first."""

    enabled: bool = Field(True, description="assign stages; disabled: every prompt in stage 1")
    stage_buckets: list[list[str]] | None = Field(
        None, description="difficulty buckets per stage, easiest first, e.g. [[easy], [medium], [hard]]; "
                          "null: split by pass-rate quantiles")
    n_stages: int = Field(3, ge=1, le=20, description="stages when splitting by quantiles")
    stage_fractions: list[float] | None = Field(
        None, description="relative stage sizes for quantile splits (default equal)")
    stage_sizes: list[int | None] | None = Field(
        None, description="most new prompts per stage; the rest are dropped (null entry = no cap)")
    retrospective_fraction: float = Field(
        0.2, ge=0.0, lt=1.0, description="share of each later stage re-drawn from earlier stages' hardest prompts")
    model: str | None = Field(None, description="prompt_stats model to read; null: the only one per prompt")
    seed: int = Field(0, ge=0, description="seed of ties and retrospective draws")

    @model_validator(mode="after")
    def _consistent(self):
        n = self.stage_count()
        if self.stage_fractions is not None:
            if self.stage_buckets is not None:
                raise ValueError("stage_fractions applies to quantile splits; drop it or stage_buckets")
            if len(self.stage_fractions) != n or any(f <= 0 for f in self.stage_fractions):
                raise ValueError(f"stage_fractions needs {n} positive values")
        if self.stage_sizes is not None and len(self.stage_sizes) != n:
            raise ValueError(f"stage_sizes needs {n} entries (one per stage)")
        if self.stage_buckets is not None:
            seen = [b for stage in self.stage_buckets for b in stage]
            dup = sorted({b for b in seen if seen.count(b) > 1})
            if dup or not all(self.stage_buckets):
                raise ValueError(f"stage_buckets: each bucket in one stage, no empty stage (repeated: {dup})")
        return self

    def stage_count(self) -> int:
        return len(self.stage_buckets) if self.stage_buckets is not None else self.n_stages


def difficulty_weight(pass_rate: float) -> float:
    """How strongly a prompt is re-drawn: 1 / pass rate (floored at 0.01); 0 once always solved."""
    return 0.0 if pass_rate >= 1.0 else 1.0 / max(pass_rate, 0.01)


def _stats_by_prompt(prompt_stats: pa.Table, cfg: CurriculumConfig) -> dict[str, dict]:
    rows = prompt_stats.select(["prompt_id", "model", "pass_rate", "difficulty_bucket"]).to_pylist()
    if cfg.model is not None:
        rows = [r for r in rows if r["model"] == cfg.model]
    out: dict[str, dict] = {}
    for r in rows:
        if r["prompt_id"] in out:
            raise InputError(f"prompt_stats has several models for prompt {r['prompt_id']}; "
                             "set curriculum.model", field="model")
        out[r["prompt_id"]] = r
    return out


def home_stages(ids: list[str], pass_rates: list[float], buckets: list[str | None],
                cfg: CurriculumConfig) -> list[int]:
    """Stage (1-based) of each prompt: by bucket membership, or by pass-rate quantile."""
    if cfg.stage_buckets is not None:
        stage_of = {b: i + 1 for i, stage in enumerate(cfg.stage_buckets) for b in stage}
        missing = sorted({str(b) for b in buckets if b not in stage_of})
        if missing:
            raise ConfigError(f"curriculum.stage_buckets has no stage for bucket(s) {missing}; "
                              f"configured: {sorted(stage_of)}")
        return [stage_of[b] for b in buckets]
    n = len(ids)
    tie = stable_uniform(ids, cfg.seed)
    order = sorted(range(n), key=lambda i: (-pass_rates[i], tie[i]))  # easiest first
    fractions = cfg.stage_fractions or [1.0] * cfg.n_stages
    bounds = [math.floor(n * sum(fractions[: s + 1]) / sum(fractions) + 1e-9) for s in range(len(fractions))]
    stages = [0] * n
    for rank, i in enumerate(order):
        stages[i] = next(s + 1 for s, b in enumerate(bounds) if rank < b or s == len(bounds) - 1)
    return stages


def assign_curriculum(rl_prompts: pa.Table, cfg: CurriculumConfig, *, prompt_stats: pa.Table) -> StepResult:
    """Set rl_prompts.curriculum_stage; kept = the staged prompts, side table curriculum_schedule.

    Prompts over a stage's `stage_sizes` cap are dropped with a reason.
    """
    ids = rl_prompts.column("prompt_id").to_pylist()
    stats = _stats_by_prompt(prompt_stats, cfg)
    pass_rates = [r["pass_rate"] for r in rl_prompts.select(["pass_rate"]).to_pylist()]
    for i, pid in enumerate(ids):
        if pid in stats:
            pass_rates[i] = stats[pid]["pass_rate"]
        elif pass_rates[i] is None:
            raise InputError(f"rl prompt {pid} has no pass rate and no prompt_stats row", field="pass_rate")
    buckets = [stats.get(pid, {}).get("difficulty_bucket") for pid in ids]
    stages = home_stages(ids, pass_rates, buckets, cfg) if cfg.enabled else [1] * len(ids)
    keep, dropped = _apply_caps(ids, stages, cfg)
    staged = rl_prompts.take(pa.array(keep, pa.int64()))
    staged = staged.drop_columns(["curriculum_stage"]) if "curriculum_stage" in staged.column_names else staged
    staged = staged.append_column("curriculum_stage", pa.array([stages[i] for i in keep], pa.int64()))
    schedule = retrospective_schedule([ids[i] for i in keep], [stages[i] for i in keep],
                                      [pass_rates[i] for i in keep], cfg)
    return StepResult(staged, drop_log(dropped, "rl_prompts", "curriculum"),
                      {"curriculum_schedule": schedule})


def _apply_caps(ids: list[str], stages: list[int], cfg: CurriculumConfig):
    if cfg.stage_sizes is None:
        return list(range(len(ids))), []
    keep, dropped = [], []
    for stage, cap in enumerate(cfg.stage_sizes, start=1):
        members = [i for i in range(len(ids)) if stages[i] == stage]
        order = weighted_order([ids[i] for i in members], [1.0] * len(members), cfg.seed)
        for rank, j in enumerate(order):
            if cap is None or rank < cap:
                keep.append(members[j])
            else:
                dropped.append((ids[members[j]], f"curriculum stage {stage} over its size {cap}"))
    return sorted(keep), dropped


def retrospective_schedule(ids: list[str], stages: list[int], pass_rates: list[float],
                           cfg: CurriculumConfig) -> pa.Table:
    """Every (stage, prompt): its new prompts, then re-drawn hard prompts of earlier stages.

    Stage s > 1 gets n_retro = round(f / (1 - f) * n_new) replays, so they are a share f of
    the stage; they are drawn without replacement with weight difficulty_weight(pass_rate)
    from the earlier stages' prompts not always solved.
    """
    rows = []
    n_stages = max(stages, default=0)
    for stage in range(1, n_stages + 1):
        new = [i for i, s in enumerate(stages) if s == stage]
        rows += [(stage, ids[i], stage, False, pass_rates[i]) for i in new]
        pool = [i for i, s in enumerate(stages) if s < stage and difficulty_weight(pass_rates[i]) > 0]
        f = cfg.retrospective_fraction
        n_retro = min(len(pool), round(f / (1.0 - f) * len(new)))
        if stage == 1 or n_retro == 0:
            continue
        weights = [difficulty_weight(pass_rates[i]) for i in pool]
        order = weighted_order([ids[i] for i in pool], weights, cfg.seed + stage)
        rows += [(stage, ids[pool[j]], stages[pool[j]], True, pass_rates[pool[j]]) for j in order[:n_retro]]
    names = ["stage", "prompt_id", "home_stage", "retrospective", "pass_rate"]
    columns = list(zip(*rows)) if rows else [[] for _ in names]
    return pa.table({n: pa.array(list(c), SCHEDULE.schema.field(n).type) for n, c in zip(names, columns)})
