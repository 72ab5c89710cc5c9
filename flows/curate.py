"""The curate flow: sources → generate → verify → rank → splits, one lake snapshot per stage.

Reads like the recipe it is; the steps live in curation/, their composition in flows/stages/.
"""

import contextlib
import functools
import json
import time
import uuid
from datetime import datetime, timezone

import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation import adaptive, difficulty, generate, temperature
from curation.backends.base import Sampling
from flows.config import CurateConfig
from flows.executor import check_executor, engine_spec, task_runner_for
from flows.generation import generate_stage, staging_for, verify_stage, workdir
from flows.locking import run_lock
from flows.progress import stage_bar
from flows.stages import StageOutput, hygiene
from flows.stages import skills as skill_stage
from flows.stages import splits as split_stage
from flows.summary import RunSummary
from schemas.errors import InputError
from schemas.lake import Lake
from schemas.split_registry import register_splits


@flow(name="curate", validate_parameters=False, log_prints=False)
def curate_flow(cfg: CurateConfig, prompts: pa.Table, backend, run_id: str, config_json: str,
                eval_sets: dict | None = None, parent: str | None = None) -> RunSummary:
    """Run every stage over validated prompts; each stage is one lake commit."""
    lake, summary, started = Lake(cfg.lake), RunSummary(run_id), datetime.now(timezone.utc)
    record = functools.partial(record_run, lake, run_id, config_json, started, parent=parent)
    record("running")
    try:
        prompts, (found, links) = sources_stage(lake, cfg, prompts, eval_sets, backend, run_id, summary)
        sampling = sampling_stage(cfg, prompts, backend, summary)
        gens, verdicts = generate_and_verify(lake, cfg, prompts, backend, sampling, summary)
        out = StageOutput()
        clean = hygiene.clean_responses(gens, cfg, out)
        summary.stage("generate", commit(lake, out, run_id, generations=gens),
                      generations=gens.num_rows, generated_now=summary.generated_now, **out.counts)
        summary.stage("verify", commit(lake, StageOutput(), run_id, verdicts=verdicts), verdicts=verdicts.num_rows)
        stats = difficulty.prompt_stats(gens, verdicts, cfg.difficulty)
        out = StageOutput()
        profile = skill_stage.profile(stats, links, found, cfg.skills, out)
        summary.stage("rank", commit(lake, out, run_id, prompt_stats=stats), prompt_stats=stats.num_rows,
                      **out.counts)
        summary.buckets = stats.column("difficulty_bucket").to_pylist()
        build_splits(lake, cfg, prompts, gens, clean, verdicts, stats, (found, links, profile), backend,
                     run_id, summary)
    except BaseException as exc:
        record("failed", detail=str(exc)[:500])
        raise
    record("completed", detail=json.dumps(summary.details()))
    return summary


def stamp(table: pa.Table, run_id: str) -> pa.Table:
    """Set run_id on every row (the lake records which run wrote what)."""
    if "run_id" in table.column_names:
        table = table.drop_columns(["run_id"])
    return table.append_column("run_id", pa.array([run_id] * table.num_rows, pa.string()))


def commit(lake: Lake, out: StageOutput, run_id: str, **tables: pa.Table) -> int:
    """Commit a stage's main tables plus everything it queued (logs, tags, clusters) as one snapshot."""
    for name, table in tables.items():
        out.tables.setdefault(name, []).insert(0, table)
    return lake.commit({name: stamp(t, run_id) for name, t in out.merged().items()})


@task(name="sources", cache_policy=NO_CACHE)
def sources_stage(lake: Lake, cfg: CurateConfig, prompts: pa.Table, eval_sets, backend, run_id: str,
                  summary: RunSummary):
    """Clean prompts, build the skill inventory, add verifiable skill-pair prompts; one commit."""
    out, loaded = StageOutput(), prompts.num_rows
    prompts = hygiene.clean_prompts(prompts, cfg, eval_sets, out)
    if prompts.num_rows == 0:
        raise InputError(f"all {loaded} prompts were dropped by the filters (quality, dedup, decontam); "
                         "loosen them in the config")
    found, links = skill_stage.inventory(prompts, cfg.skills, backend, out)
    synthetic = skill_stage.synthesize(prompts, links, found, cfg.skills, out)
    if synthetic.num_rows:
        # Synthetic rows have no run_id yet; commit() stamps every row.
        prompts = pa.concat_tables([prompts, synthetic], promote_options="permissive")
    summary.stage("sources", commit(lake, out, run_id, prompts=prompts), loaded=loaded,
                  prompts=prompts.num_rows, **out.counts)
    return prompts, (found, links)


def sampling_stage(cfg: CurateConfig, prompts: pa.Table, backend, summary: RunSummary) -> Sampling:
    """Fixed sampling, or with `temperature: auto` the temperature whose token entropy is nearest
    the target (AceReason-Nemotron 1.1), measured on a sample of these prompts."""
    settings = cfg.sampling.model_dump()
    if settings["temperature"] == "auto":
        texts = prompts.column("prompt").to_pylist()
        conversations = [generate.conversation(p, cfg.prompt_format) for p in texts]
        chosen, probe = temperature.choose_temperature(backend, conversations, cfg.temperature)
        settings["temperature"] = chosen
        summary.temperature_probe = probe.to_pylist()
    return Sampling(**settings)


@task(name="generate-verify", cache_policy=NO_CACHE)
def generate_and_verify(lake: Lake, cfg: CurateConfig, prompts: pa.Table, backend, sampling: Sampling,
                        summary: RunSummary) -> tuple[pa.Table, pa.Table]:
    """k samples per prompt (fixed and resumable, or adaptive rounds), then a verdict per sample."""
    if cfg.adaptive is not None:
        with stage_bar("adaptive", cfg.adaptive.max_k) as advance:
            result = adaptive.sample_adaptively(backend, prompts, cfg.prompt_format, sampling, cfg.adaptive,
                                                shard_size=cfg.shard_size, progress=lambda r, a: advance(0))
        summary.generated_now = result.generations.num_rows
        return result.generations, result.verdicts
    gens, fresh = generate_stage(backend, lake, prompts, cfg, sampling)
    summary.generated_now = fresh * sampling.k
    staging_for(lake, backend.model_name, sampling).clear()
    return gens, verify_stage(gens, prompts)


@task(name="splits", cache_policy=NO_CACHE)
def build_splits(lake: Lake, cfg: CurateConfig, prompts, gens, clean, verdicts, stats, skill_tables, backend,
                 run_id: str, summary: RunSummary) -> None:
    """Cut SFT, preference and RL tables, commit them, then register each split on that snapshot."""
    out = StageOutput()
    tables = split_stage.build(prompts, gens, clean, verdicts, stats, skill_tables, cfg, backend, out)
    version = commit(lake, out, run_id)
    summary.stage("splits", version, **out.counts)
    entries = {getattr(cfg.splits, kind) + suffix: (kind, ids) for kind, table in tables.items()
               for suffix, ids in split_stage.split_rows(kind, table).items() if ids}
    if entries:
        register_splits(lake, entries, run_id=run_id, version=version)
    summary.splits = {name: (version, len(ids)) for name, (_, ids) in entries.items()}


def record_run(lake: Lake, run_id: str, config_json: str, started, status: str, detail: str = "",
               parent: str | None = None) -> None:
    """Upsert this run's row in `runs` (kind curate)."""
    finished = None if status == "running" else datetime.now(timezone.utc)
    lake.commit({"runs": [{"run_id": run_id, "kind": "curate", "config": config_json, "started": started,
                           "finished": finished, "status": status, "parent_run_id": parent,
                           "detail": detail}]})


@contextlib.contextmanager
def flow_settings():
    """Without a Prefect server (the ephemeral API of a CLI run) nothing watches flow-run
    heartbeats, and stopping their thread costs up to a second per run: turn them off there."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def close_dead_runs(lake: Lake) -> None:
    """Holding a local lake's run lock, no other curate run is alive: a row still 'running' is a
    run that was killed. (A shared PostgreSQL lake may have live runs on other hosts: left as is.)"""
    if lake.where.is_postgres or not lake.exists():
        return
    dead = lake.query("SELECT * FROM runs WHERE kind = 'curate' AND status = 'running'").to_pylist()
    if dead:
        lake.commit({"runs": [{**row, "status": "interrupted", "detail": "ended without recording an outcome "
                               "(killed); found by the next run"} for row in dead]})


def run_curation(cfg: CurateConfig, *, run_id: str | None = None, extra_prompts: pa.Table | None = None,
                 parent: str | None = None) -> RunSummary:
    """Validate inputs and model, take the lake's run lock, load the engine once, run the flow.

    extra_prompts (a prompts table, e.g. a loop's mined failures) join the configured sources;
    parent is the run that started this one (a loop)."""
    from curation.backends import load_backend
    from curation.models import resolve_model
    from flows.eval_sets import load_eval_sets
    from flows.sources import load_prompts

    prompts = load_prompts(cfg.sources, cfg.data_roots, extra=extra_prompts)  # bad input fails here
    eval_sets = load_eval_sets(cfg.decontam.sources) if cfg.decontam is not None else None
    if cfg.backend != "openai":
        resolve_model(cfg.model)
    check_executor(cfg.executor)  # a Ray address that does not answer fails here, within seconds
    run_id = run_id or uuid.uuid4().hex[:12]
    lake = Lake(cfg.lake)
    with run_lock(workdir(lake)):
        t0 = time.monotonic()
        close_dead_runs(lake)
        if cfg.executor.type == "ray":  # workers load their own engines; the driver loads one lazily
            backend = engine_spec(cfg.backend, cfg.model, cfg.sampling.seed, cfg.backend_options)
        else:
            backend = load_backend(cfg.backend, cfg.model, seed=cfg.sampling.seed, options=cfg.backend_options)
        flow_fn = curate_flow.with_options(task_runner=task_runner_for(cfg.executor))
        try:
            with flow_settings():
                summary = flow_fn(cfg, prompts, backend, run_id, cfg.model_dump_json(), eval_sets, parent)
        finally:
            backend.close()
        summary.seconds = time.monotonic() - t0
        return summary
