"""The difficulty ledger: a prompt's successes and attempts under one policy, pooled across runs.

A run's samples become `difficulty_samples` rows keyed by (policy, generation_id), so a run that
reuses samples already in the lake (same generation ids) upserts them instead of counting them
again. The `difficulty` row of (prompt, policy) is the count over those distinct samples: the
lake's ones plus this run's (which win, so a re-verified sample counts with its new verdict).

    fresh = samples_of(generations, verdicts, policy)
    rows = pool(fresh, known=<policy's samples in the lake>, previous=<its difficulty rows>, ...)
"""

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from curation.difficulty import DifficultyConfig, correct_by_generation, rates
from schemas.errors import InputError
from schemas.tables import step_schema

SAMPLES = step_schema("difficulty_samples")
LEDGER = step_schema("difficulty")


def samples_of(generations: pa.Table, verdicts: pa.Table, policy: str) -> pa.Table:
    """One difficulty_samples row per generation of this run: its prompt and its verdict."""
    correct_of = correct_by_generation(verdicts)
    ids, prompts = generations["generation_id"].to_pylist(), generations["prompt_id"].to_pylist()
    missing = [g for g in ids if g not in correct_of]
    if missing:
        raise InputError(f"generation {missing[0]} has no verdict; the ledger counts verified samples only")
    return pa.table({"policy": [policy] * len(ids), "generation_id": ids, "prompt_id": prompts,
                     "correct": [correct_of[g] for g in ids]}, schema=SAMPLES)


def distinct_samples(fresh: pa.Table, known: pa.Table) -> pa.Table:
    """This run's samples plus the known ones of the same prompts it does not hold (by generation id)."""
    known = known.select(SAMPLES.names)
    if set(known["policy"].to_pylist()) - set(fresh["policy"].to_pylist()):
        raise InputError("known samples belong to another policy than this run's")
    older = pc.and_(pc.is_in(known["prompt_id"], value_set=fresh["prompt_id"]),
                    pc.invert(pc.is_in(known["generation_id"], value_set=fresh["generation_id"])))
    return pa.concat_tables([fresh.select(SAMPLES.names), known.filter(older)])


def pool(fresh: pa.Table, known: pa.Table, previous: pa.Table, *, model: str, run_id: str,
         cfg: DifficultyConfig, now: datetime) -> pa.Table:
    """The difficulty rows of every prompt this run sampled: attempts and successes over the
    distinct samples of `fresh` and `known`, runs = the row's `previous` runs plus this one."""
    policies = set(fresh["policy"].to_pylist())
    if len(policies) > 1:
        raise InputError(f"one run samples with one policy; got {sorted(policies)}")
    samples = distinct_samples(fresh, known)
    counts = samples.group_by("prompt_id").aggregate([("correct", "count"), ("correct", "sum")]).to_pylist()
    runs_before = dict(zip(previous["prompt_id"].to_pylist(), previous["run_ids"].to_pylist()))
    counts = sorted(counts, key=lambda c: c["prompt_id"])
    measured = rates([int(c["correct_sum"] or 0) for c in counts], [c["correct_count"] for c in counts], cfg)
    rows = []
    for i, count in enumerate(counts):
        rows.append({"prompt_id": count["prompt_id"], "policy": next(iter(policies)), "model": model,
                     "attempts": count["correct_count"], "successes": int(measured["n_correct"][i]),
                     "pass_rate": float(measured["pass_rate"][i]), "ci_low": float(measured["ci_low"][i]),
                     "ci_high": float(measured["ci_high"][i]),
                     "run_ids": sorted(set(runs_before.get(count["prompt_id"]) or []) | {run_id}),
                     "updated_at": now})
    return pa.Table.from_pylist(rows, schema=LEDGER)


def pooled_stats(stats: pa.Table, ledger: pa.Table, cfg: DifficultyConfig) -> pa.Table:
    """prompt_stats with each prompt's counts, interval and bucket taken from its ledger row."""
    pooled = {row["prompt_id"]: row for row in ledger.select(["prompt_id", "attempts", "successes"]).to_pylist()}
    ids = stats["prompt_id"].to_pylist()
    missing = next((pid for pid in ids if pid not in pooled), None)
    if missing is not None:
        raise InputError(f"prompt {missing} has no difficulty ledger row to pool")
    measured = rates([pooled[pid]["successes"] for pid in ids], [pooled[pid]["attempts"] for pid in ids], cfg)
    for name, values in measured.items():  # one vectorised pass, the columns replaced in place
        field = stats.schema.field(name)
        stats = stats.set_column(stats.schema.get_field_index(name), field, pa.array(values, field.type))
    return stats
