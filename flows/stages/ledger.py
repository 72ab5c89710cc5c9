"""The difficulty ledger in a curate run: this run's samples join the policy's pooled counts.

Queued with the rank stage's commit: `difficulty_samples` (this run's samples, one row per
generation id, so reused samples are upserted, not counted twice) and the `difficulty` rows of
every prompt it sampled. With `difficulty.pooled` the run then ranks by the pooled counts.
"""

from datetime import datetime, timezone

from curation import difficulty_ledger
from flows.stages.state import CurationState
from schemas.lake_sql import literal


def update(state: CurationState) -> None:
    """Pool this run's samples with the lake's for the same policy; queue both tables."""
    cfg, lake, policy = state.cfg.difficulty, state.lake, state.policy
    if policy is None:
        raise ValueError("CurationState.policy is unset: the curate flow sets it before any stage")
    fresh = difficulty_ledger.samples_of(state.generations, state.verdicts, policy)
    where = f"policy = {literal(policy)}"
    ledger = difficulty_ledger.pool(fresh, lake.read("difficulty_samples", where=where),
                                    lake.read("difficulty", where=where), model=state.cfg.model,
                                    run_id=state.run_id, cfg=cfg, now=datetime.now(timezone.utc))
    state.out.add("difficulty_samples", fresh)
    state.out.add("difficulty", ledger)
    state.out.counts["ledger_prompts"] = ledger.num_rows
    if cfg.pooled:
        state.stats = difficulty_ledger.pooled_stats(state.stats, ledger, cfg)
