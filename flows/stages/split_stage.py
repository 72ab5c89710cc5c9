"""Splits: SFT (S3FT), preference pairs (outcome, step-level, judge), RL prompts (0 < pass < 1)
in curriculum order; SFT up-sampled toward missing skills (STAT-Sel), the others weighted toward
them; then budgeted and mixed."""

import pyarrow as pa
import pyarrow.compute as pc

from curation import curriculum, difficulty, judge, mixing, preference, skill_profile, split_builders, step_pairs
from flows.stages.state import CurationState
from flows.stages.steps import Step, run_steps
from schemas.split_registry import stage_split
from schemas.tables import ROW_ID, SPLIT_KINDS


def _stat(name: str, split: str, run) -> Step:
    """A STAT step over one split toward the missing skills, when the profile has rows."""
    return Step(name, split, lambda s: s.cfg.skills.profile if s.profile is not None and s.profile.num_rows else None,
                run, inputs=lambda s: {"prompt_skills": s.prompt_skills, "profile": s.profile})


def _mix(split: str) -> Step:
    """One split under its share of the budget and the quotas (SFT also gets its DMT stages)."""
    return Step("mix", split, lambda s: s.cfg.mix, mixing.mix_split,
                inputs=lambda s: {"attributes": s.attributes, "table_name": SPLIT_KINDS[split]})


# Steps over the candidate splits (state.sft, state.preference, state.rl), in order.
SPLIT_STEPS = [
    Step("curriculum", "rl", lambda s: s.cfg.curriculum, curriculum.assign_curriculum,
         inputs=lambda s: {"prompt_stats": s.stats}),
    _stat("stat_sel", "sft", skill_profile.stat_upsample),  # SFT: up-sampled by weight
    _stat("stat_weights", "preference", skill_profile.stat_weights),  # priority under a budget
    _stat("stat_weights", "rl", skill_profile.stat_weights),
    *map(_mix, SPLIT_KINDS),
]


def build(state: CurationState) -> dict[str, pa.Table]:
    """Cut the candidate splits from the train prompts, run SPLIT_STEPS over them, queue the results."""
    cfg, out = state.cfg, state.out
    train = state.prompts.filter(pc.equal(state.prompts.column("split_guard"), "train"))
    state.sft = split_builders.sft_examples(train, state.clean_generations, state.verdicts, cfg.prompt_format,
                                            cfg.sft)
    state.preference = _pairs(train, state)
    rl_stats = state.stats if cfg.rl_filter is None else out.record(
        "rl_filter", difficulty.rl_filter(state.stats, cfg.rl_filter, cfg.difficulty.estimate))
    state.rl = split_builders.rl_prompts(train, rl_stats, cfg.prompt_format, split_builders.RLConfig())
    state.attributes = mixing.prompt_attributes(state.prompts, state.stats, state.prompt_skills, state.skills)
    run_steps(state, SPLIT_STEPS)
    tables = {kind: getattr(state, kind) for kind in SPLIT_KINDS}
    for kind, table in tables.items():
        out.add(SPLIT_KINDS[kind], table)
        out.counts[SPLIT_KINDS[kind]] = table.num_rows
    return tables


def _pairs(train: pa.Table, state: CurationState) -> pa.Table:
    cfg, gens, verdicts = state.cfg, state.clean_generations, state.verdicts
    parts = [preference.preference_pairs(train, gens, verdicts, cfg.prompt_format, cfg.preference)]
    if cfg.step_pairs is not None:
        pairs, values = step_pairs.step_pairs(state.backend, train, gens, verdicts, cfg.prompt_format,
                                              cfg.step_pairs)
        parts.append(pairs)
        state.out.add("step_values", values)
        state.out.counts["step_pairs"] = pairs.num_rows
    if cfg.judge is not None:
        judged = judge.judge_pairs(state.judge or state.backend, train, gens, cfg.prompt_format, cfg.judge)
        parts.append(judged)
        state.out.counts["judge_pairs"] = judged.num_rows
    columns = parts[0].column_names
    return pa.concat_tables([p.select(columns) for p in parts])


def split_rows(kind: str, table: pa.Table) -> dict[str, list[str]]:
    """Row ids per split to register: DMT stages become <name>_stage1 / _stage2 for SFT."""
    column = ROW_ID[SPLIT_KINDS[kind]]
    if kind == "sft" and "mix_stage" in table.column_names and len(set(table.column("mix_stage").to_pylist())) > 1:
        stages = table.column("mix_stage").to_pylist()
        ids = table.column(column).to_pylist()
        return {stage_split("", s): [i for i, st in zip(ids, stages) if st == s] for s in sorted(set(stages))}
    return {"": table.column(column).to_pylist()}
