"""The generate stage: k samples per prompt, reusing what the lake or an interrupted run holds.

Shards are staged as Parquet the moment the engine returns them (flows/staging.py), so a killed
run regenerates only the shards it had not finished. Which samples can be reused is decided by
their identity (curation/sample_identity.py), held by a SampleStore (flows/sample_store.py).
"""

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation import verifiers
from curation.backends.base import Sampling
from curation.sample_identity import SampleIdentity
from flows.executor import generate_parallel
from flows.progress import stage_bar
from flows.sample_store import SampleStore
from flows.shards import cut_shards, generate_shard
from schemas.lake import Lake

__all__ = ["generate_stage", "sample_store", "sample_missing", "verify_stage"]


def sample_store(backend, lake: Lake, prompts: pa.Table, cfg, sampling: Sampling) -> SampleStore:
    """The store of this run's samples: its backend, prompt format and sampling settings."""
    return SampleStore(lake, prompts, SampleIdentity.of(backend, cfg.prompt_format, sampling))


def sample_missing(backend, store: SampleStore, prompts: pa.Table, cfg, sampling: Sampling,
                   indices: range, advance, work: dict | None = None) -> pa.Table:
    """The samples of `prompts` at `indices`, one table: those the store holds, the rest generated
    (and staged) shard by shard, locally or on the Ray workers. `work`: store.pending() if the
    caller has it already."""
    work = store.pending(prompts, indices) if work is None else work
    held = store.take(prompts, indices)
    parts = [held] if held is not None else []
    store.note_generating(prompts, work)
    if cfg.executor.type == "ray" and work:
        parts.extend(generate_parallel(backend, prompts, work, cfg, sampling, store.stage, advance, cfg.executor))
    elif work:
        for missing, rows in cut_shards(work, cfg.shard_size):
            parts.append(generate_shard(backend, prompts.take(rows), cfg, sampling, list(missing), store.stage,
                                        advance))
    return pa.concat_tables([p.select(parts[0].column_names) for p in parts])


@task(name="generate-all", cache_policy=NO_CACHE)
def generate_stage(backend, store: SampleStore, prompts: pa.Table, cfg, sampling: Sampling) -> pa.Table:
    """All k samples of every prompt: reuse what exists, generate the rest shard by shard."""
    work = store.pending(prompts, range(sampling.k))
    with stage_bar("generate", sum(len(rows) for rows in work.values())) as advance:
        return sample_missing(backend, store, prompts, cfg, sampling, range(sampling.k), advance, work)


def verify_stage(gens: pa.Table, prompts: pa.Table) -> pa.Table:
    """Verdicts for every generation, with a progress bar over generations."""
    parts, step = [], 512
    with stage_bar("verify", gens.num_rows) as advance:
        for start in range(0, gens.num_rows, step):
            parts.append(verifiers.verdicts_table(gens.slice(start, step), prompts))
            advance(min(step, gens.num_rows - start))
    return pa.concat_tables(parts)
