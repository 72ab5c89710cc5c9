"""Splits: SFT (S3FT), preference pairs (outcome, step-level, judge), RL prompts (0 < pass < 1)
in curriculum order, reweighted toward missing skills, then budgeted and mixed."""

import pyarrow as pa
import pyarrow.compute as pc

from curation import curriculum, difficulty, mixing, preference, skill_profile, splits, step_pairs
from flows.stages import StageOutput


def build(prompts, gens, clean_gens, verdicts, stats, skill_tables, cfg, backend,
          out: StageOutput) -> dict[str, pa.Table]:
    """The three split tables after curriculum, STAT weights and mixing; logs every drop."""
    train = prompts.filter(pc.equal(prompts.column("split_guard"), "train"))
    sft = splits.sft_examples(train, clean_gens, verdicts, cfg.prompt_format, cfg.sft)
    pairs = _pairs(train, clean_gens, verdicts, cfg, backend, out)
    kept, dropped = difficulty.rl_filter(stats, cfg.rl_filter)
    out.dropped("rl_filter", dropped)
    rl = splits.rl_prompts(train, kept, cfg.prompt_format, splits.RLConfig())
    rl, schedule, dropped = curriculum.assign_curriculum(rl, stats, cfg.curriculum)
    out.dropped("curriculum", dropped)
    out.add("curriculum_schedule", schedule)
    found, links, prof = skill_tables
    if prof is not None and prof.num_rows:
        sft, pairs, rl = (skill_profile.stat_weights(t, links, prof, cfg.skills.profile) for t in (sft, pairs, rl))
    attrs = mixing.prompt_attributes(prompts, stats, links, found)
    mixed = mixing.mix(sft, pairs, rl, attrs, cfg.mix)
    out.dropped("mix", mixed.dropped)
    for name, table in (("sft_examples", mixed.sft), ("preference_pairs", mixed.preference),
                        ("rl_prompts", mixed.rl)):
        out.add(name, table)
    out.counts.update(sft_examples=mixed.sft.num_rows, preference_pairs=mixed.preference.num_rows,
                      rl_prompts=mixed.rl.num_rows)
    return {"sft": mixed.sft, "preference": mixed.preference, "rl": mixed.rl}


def _pairs(train, gens, verdicts, cfg, backend, out: StageOutput) -> pa.Table:
    parts = [preference.preference_pairs(train, gens, verdicts, cfg.prompt_format, cfg.preference)]
    if cfg.step_pairs is not None:
        pairs, values = step_pairs.step_pairs(backend, train, gens, verdicts, cfg.prompt_format, cfg.step_pairs)
        parts.append(pairs)
        out.counts["step_pairs"] = pairs.num_rows
    if cfg.judge is not None:
        judged = step_pairs.judge_pairs(backend, train, gens, cfg.prompt_format, cfg.judge)
        parts.append(judged)
        out.counts["judge_pairs"] = judged.num_rows
    columns = parts[0].column_names
    return pa.concat_tables([p.select(columns) for p in parts])


def split_rows(kind: str, table: pa.Table) -> dict[str, list[str]]:
    """Row ids per split to register: DMT stages become <name>_stage1 / _stage2 for SFT."""
    column = {"sft": "example_id", "preference": "pair_id", "rl": "prompt_id"}[kind]
    if kind == "sft" and "mix_stage" in table.column_names and len(set(table.column("mix_stage").to_pylist())) > 1:
        stages = table.column("mix_stage").to_pylist()
        ids = table.column(column).to_pylist()
        return {f"_stage{s}": [i for i, st in zip(ids, stages) if st == s] for s in sorted(set(stages))}
    return {"": table.column(column).to_pylist()}
