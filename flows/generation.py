"""The generate stage: k samples per prompt, reusing what the lake or an interrupted run holds.

Shards are staged as Parquet the moment the engine returns them (flows/staging.py), so a killed
run regenerates only the shards it had not finished.
"""

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation import generate, verifiers
from curation.backends.base import Sampling
from flows.executor import generate_parallel
from flows.progress import stage_bar
from flows.shards import cut_shards, generate_shard
from flows.staging import GenerationStage
from schemas.ids import content_id
from schemas.lake import Lake
from schemas.lake_sql import literal


def staging_for(lake: Lake, model: str, sampling: Sampling) -> GenerationStage:
    """The staging folder of one (model, sampling) combination."""
    return GenerationStage(lake.workdir, content_id(model, sampling.record()))


def pending_work(prompts: pa.Table, model: str, sampling: Sampling, have: set[str]) -> dict:
    """Group prompts by the sample indices they still lack: {indices tuple: prompt row numbers}."""
    groups: dict[tuple, list[int]] = {}
    for row, pid in enumerate(prompts.column("prompt_id").to_pylist()):
        missing = tuple(i for i in range(sampling.k)
                        if generate.generation_id(pid, model, sampling, i) not in have)
        if missing:
            groups.setdefault(missing, []).append(row)
    return groups


def existing_generations(lake: Lake, prompts: pa.Table, model: str, sampling: Sampling,
                         stage: GenerationStage) -> pa.Table | None:
    """Generations already in the lake or staged by an interrupted run, for these prompts."""
    ids = pa.array(prompts.column("prompt_id"))
    found = []
    if lake.exists():
        # Only this model's samples with these settings are read; staged rows carry no run_id yet.
        where = f"model = {literal(model)} AND sampling = {literal(sampling.record())}"
        table = lake.read("generations", where=where).drop_columns(["run_id"])
        found.append(table.filter(pc.is_in(table.column("prompt_id"), value_set=ids)))
    staged = stage.read()
    if staged is not None:
        found.append(staged.select(found[0].column_names) if found else staged)
    return pa.concat_tables(found, promote_options="permissive") if found else None


@task(name="generate-all", cache_policy=NO_CACHE)
def generate_stage(backend, lake: Lake, prompts: pa.Table, cfg,
                   sampling: Sampling) -> tuple[pa.Table, int]:
    """All k samples of every prompt: reuse what exists, generate the rest shard by shard."""
    stage = staging_for(lake, backend.model_name, sampling)
    have = existing_generations(lake, prompts, backend.model_name, sampling, stage)
    have_ids = set(have.column("generation_id").to_pylist()) if have is not None else set()
    work = pending_work(prompts, backend.model_name, sampling, have_ids)
    todo = sum(len(rows) for rows in work.values())
    parts = [have] if have is not None else []
    with stage_bar("generate", todo) as advance:
        if cfg.executor.type == "ray":
            if work:
                parts.extend(generate_parallel(backend, prompts, work, cfg, sampling, stage, advance, cfg.executor))
        else:
            for indices, rows in cut_shards(work, cfg.shard_size):
                parts.append(generate_shard(backend, prompts.take(rows), cfg, sampling, list(indices), stage, advance))
    table = pa.concat_tables([p.select(parts[-1].column_names) for p in parts]) if parts else None
    return table, todo


def verify_stage(gens: pa.Table, prompts: pa.Table) -> pa.Table:
    """Verdicts for every generation, with a progress bar over generations."""
    parts, step = [], 512
    with stage_bar("verify", gens.num_rows) as advance:
        for start in range(0, gens.num_rows, step):
            parts.append(verifiers.verdicts_table(gens.slice(start, step), prompts))
            advance(min(step, gens.num_rows - start))
    return pa.concat_tables(parts)
