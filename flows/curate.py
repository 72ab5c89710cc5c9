"""The curate flow: sources → generate → verify → rank → splits, one lake snapshot per stage.

Reads like the recipe it is; the work is in curation/ steps, the I/O here.
"""

import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation import difficulty, generate, preference, splits, verifiers
from curation.backends.base import Sampling
from flows.config import CurateConfig
from flows.locking import run_lock
from flows.progress import stage_bar
from flows.staging import GenerationStage
from flows.summary import RunSummary
from schemas.ids import content_id
from schemas.lake import Lake
from schemas.splits import register_split


def stamp(table: pa.Table, run_id: str) -> pa.Table:
    """Set run_id on every row (the lake records which run wrote what)."""
    if "run_id" in table.column_names:
        table = table.drop_columns(["run_id"])
    return table.append_column("run_id", pa.array([run_id] * table.num_rows, pa.string()))


def workdir(lake: Lake) -> Path:
    """A local folder for the run lock and generation staging of this lake."""
    return Path(getattr(lake, "workdir", None) or lake.location)


@task(name="generate", cache_policy=NO_CACHE)
def generate_shard(backend, prompts: pa.Table, cfg: CurateConfig, sampling: Sampling,
                   indices: list[int], stage: GenerationStage, advance) -> pa.Table:
    """Sample one shard and stage it at once, so a crash loses at most this shard."""
    runs = contiguous_runs(indices)
    tables = [generate.generate_table(backend, prompts, cfg.prompt_format, sampling,
                                      sample_indices=run, shard_size=cfg.shard_size,
                                      progress=(lambda n: advance(n)) if run is runs[-1] else None)
              for run in runs]
    table = pa.concat_tables(tables)
    stage.write(table)
    return table


def contiguous_runs(indices: list[int]) -> list[range]:
    """[0, 1, 2, 5] -> [range(0, 3), range(5, 6)]: the backend samples a range of indices at once."""
    runs: list[range] = []
    for i in sorted(indices):
        if runs and runs[-1].stop == i:
            runs[-1] = range(runs[-1].start, i + 1)
        else:
            runs.append(range(i, i + 1))
    return runs


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
        table = lake.read("generations")
        mask = pc.and_(pc.is_in(table.column("prompt_id"), value_set=ids),
                       pc.equal(table.column("sampling"), sampling.record()))
        found.append(table.filter(pc.and_(mask, pc.equal(table.column("model"), model))))
    staged = stage.read()
    if staged is not None:
        found.append(staged.select(found[0].column_names) if found else staged)
    return pa.concat_tables(found, promote_options="permissive") if found else None


@task(name="generate-all", cache_policy=NO_CACHE)
def generate_stage(backend, lake: Lake, prompts: pa.Table, cfg: CurateConfig,
                   sampling: Sampling) -> tuple[pa.Table, int]:
    """All k samples of every prompt: reuse what exists, generate the rest shard by shard."""
    stage = GenerationStage(workdir(lake), content_id(backend.model_name, sampling.record()))
    have = existing_generations(lake, prompts, backend.model_name, sampling, stage)
    have_ids = set(have.column("generation_id").to_pylist()) if have is not None else set()
    work = pending_work(prompts, backend.model_name, sampling, have_ids)
    todo = sum(len(rows) for rows in work.values())
    parts = [have] if have is not None else []
    with stage_bar("generate", todo) as advance:
        for indices, rows in work.items():
            for start in range(0, len(rows), cfg.shard_size):
                shard = prompts.take(rows[start:start + cfg.shard_size])
                parts.append(generate_shard(backend, shard, cfg, sampling, list(indices), stage, advance))
    table = pa.concat_tables([p.select(parts[-1].column_names) for p in parts]) if parts else None
    return table, todo


@flow(name="curate", validate_parameters=False, log_prints=False)
def curate_flow(cfg: CurateConfig, prompts: pa.Table, backend, run_id: str, config_json: str) -> RunSummary:
    """Run every stage over validated prompts; each stage is one lake commit."""
    lake, summary, started = Lake(cfg.lake), RunSummary(run_id), datetime.now(timezone.utc)
    sampling = Sampling(**cfg.sampling.model_dump())
    record_run(lake, run_id, config_json, started, "running")
    try:
        summary.stage("sources", lake.commit({"prompts": stamp(prompts, run_id)}), prompts=prompts.num_rows)
        gens, fresh = generate_stage(backend, lake, prompts, cfg, sampling)
        summary.stage("generate", lake.commit({"generations": stamp(gens, run_id)}),
                      generations=gens.num_rows, generated_now=fresh * sampling.k)
        GenerationStage(workdir(lake), content_id(backend.model_name, sampling.record())).clear()
        verdicts = verify_stage(gens, prompts)
        summary.stage("verify", lake.commit({"verdicts": stamp(verdicts, run_id)}), verdicts=verdicts.num_rows)
        stats = difficulty.prompt_stats(gens, verdicts, cfg.difficulty)
        summary.stage("rank", lake.commit({"prompt_stats": stamp(stats, run_id)}), prompt_stats=stats.num_rows)
        summary.buckets = stats.column("difficulty_bucket").to_pylist()
        build_splits(lake, cfg, prompts, gens, verdicts, stats, run_id, summary)
    except BaseException as exc:
        record_run(lake, run_id, config_json, started, "failed", detail=str(exc)[:500])
        raise
    record_run(lake, run_id, config_json, started, "completed", detail=json.dumps(summary.counts))
    return summary


@task(name="verify", cache_policy=NO_CACHE)
def verify_stage(gens: pa.Table, prompts: pa.Table) -> pa.Table:
    """Verdicts for every generation, with a progress bar over generations."""
    parts, step = [], 512
    with stage_bar("verify", gens.num_rows) as advance:
        for start in range(0, gens.num_rows, step):
            parts.append(verifiers.verdicts_table(gens.slice(start, step), prompts))
            advance(min(step, gens.num_rows - start))
    return pa.concat_tables(parts)


@task(name="splits", cache_policy=NO_CACHE)
def build_splits(lake: Lake, cfg: CurateConfig, prompts, gens, verdicts, stats, run_id: str,
                 summary: RunSummary) -> None:
    """Cut the SFT, preference and RL tables, commit them, then register the three splits."""
    train = prompts.filter(pc.equal(prompts.column("split_guard"), "train"))
    sft = splits.sft_examples(train, gens, verdicts, cfg.prompt_format, cfg.sft)
    pairs = preference.preference_pairs(train, gens, verdicts, cfg.prompt_format, cfg.preference)
    kept, dropped = difficulty.rl_filter(stats, cfg.rl_filter)
    rl = splits.rl_prompts(train, kept, cfg.prompt_format, splits.RLConfig())
    version = lake.commit({"sft_examples": stamp(sft, run_id), "preference_pairs": stamp(pairs, run_id),
                           "rl_prompts": stamp(rl, run_id), "filter_log": stamp(dropped, run_id)})
    summary.stage("splits", version, sft_examples=sft.num_rows, preference_pairs=pairs.num_rows,
                  rl_prompts=rl.num_rows, filtered=dropped.num_rows)
    for kind, table, column in [("sft", sft, "example_id"), ("preference", pairs, "pair_id"),
                                ("rl", rl, "prompt_id")]:
        name = getattr(cfg.splits, kind)
        if table.num_rows:
            summary.splits[name] = (register_split(lake, name, kind, table.column(column).to_pylist(),
                                                   run_id=run_id), table.num_rows)


def record_run(lake: Lake, run_id: str, config_json: str, started, status: str, detail: str = "") -> None:
    """Upsert this run's row in `runs` (kind curate)."""
    finished = None if status == "running" else datetime.now(timezone.utc)
    lake.commit({"runs": [{"run_id": run_id, "kind": "curate", "config": config_json, "started": started,
                           "finished": finished, "status": status, "parent_run_id": None,
                           "detail": detail}]})


def run_curation(cfg: CurateConfig, *, run_id: str | None = None) -> RunSummary:
    """Validate inputs and model, take the lake's run lock, load the engine once, run the flow."""
    from curation.backends import load_backend
    from curation.models import resolve_model
    from flows.sources import load_prompts

    prompts = load_prompts(cfg.sources)  # bad input fails here, before any write
    if cfg.backend != "openai":
        resolve_model(cfg.model)
    run_id = run_id or uuid.uuid4().hex[:12]
    lake = Lake(cfg.lake)
    with run_lock(workdir(lake)):
        t0 = time.monotonic()
        backend = load_backend(cfg.backend, cfg.model, seed=cfg.sampling.seed, options=cfg.backend_options)
        try:
            summary = curate_flow(cfg, prompts, backend, run_id, cfg.model_dump_json())
        finally:
            backend.close()
        summary.seconds = time.monotonic() - t0
        return summary
