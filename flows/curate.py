"""The curate flow: sources → generate → verify → rank → splits, one lake snapshot per stage.

Reads like the recipe it is; the steps live in curation/, their composition in flows/stages/.
"""

import contextlib
import json
import time

import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation import adaptive, difficulty, generate, temperature
from curation.backends.base import Sampling
from flows.config import CurateConfig
from flows.executor import check_executor, engine_spec, task_runner_for
from flows.generation import generate_stage, sample_missing, sample_store, verify_stage
from flows.locking import run_lock
from flows.progress import stage_bar
from flows.run_record import recorded_run
from flows.stages import hygiene, ledger, split_stage
from flows.stages import skills as skill_stage
from flows.stages.state import CurationState, StageOutput
from flows.summary import RunSummary
from schemas.errors import InputError
from schemas.ids import new_run_id
from schemas.lake import Lake
from schemas.lake_location import public_location
from schemas.split_registry import register_splits


@flow(name="curate", validate_parameters=False, log_prints=False)
def curate_flow(cfg: CurateConfig, prompts: pa.Table, backend, run_id: str,
                eval_sets: dict | None = None, judge=None, target_profile: pa.Table | None = None) -> RunSummary:
    """Run every stage over validated prompts; each stage is one lake commit. `judge` is the LLM
    judge's engine when it is not the policy's; `target_profile` the skill profile model synthesis
    writes questions for.

    cfg.lake is the public location (password masked; Prefect stores flow parameters): the lake
    resolves the password this process saw (schemas/lake_location.py)."""
    state = CurationState(cfg=cfg, lake=Lake(cfg.lake), backend=backend, run_id=run_id,
                          summary=RunSummary(run_id), policy=backend.identity().fingerprint,
                          prompts=prompts, eval_sets=eval_sets, judge=judge, target_profile=target_profile)
    sources_stage(state)
    generate_and_verify(state, sampling_stage(state))
    hygiene.clean_responses(state)
    commit_stage(state, "generate", {"generations": state.generations.num_rows,
                                     "generated_now": state.summary.generated_now},
                 generations=state.generations)
    state.samples.stage.clear()  # only now: a crash before this commit resumes from the staged shards
    commit_stage(state, "verify", {"verdicts": state.verdicts.num_rows}, verdicts=state.verdicts)
    rank_stage(state)
    build_splits(state)
    return state.summary


def stamp(table: pa.Table, run_id: str) -> pa.Table:
    """Set run_id on every row (the lake records which run wrote what)."""
    if "run_id" in table.column_names:
        table = table.drop_columns(["run_id"])
    return table.append_column("run_id", pa.array([run_id] * table.num_rows, pa.string()))


def commit_stage(state: CurationState, name: str, counts: dict[str, int], **tables: pa.Table) -> int:
    """Commit a stage's main tables plus everything queued in state.out (logs, tags, clusters) as one
    snapshot, record it in the summary, and start an empty queue for the next stage."""
    out, state.out = state.out, StageOutput()
    for table_name, table in tables.items():
        out.tables.setdefault(table_name, []).insert(0, table)
    version = state.lake.commit({table_name: stamp(t, state.run_id) for table_name, t in out.merged().items()})
    state.summary.stage(name, version, **counts, **out.counts)
    return version


@task(name="sources", cache_policy=NO_CACHE)
def sources_stage(state: CurationState) -> None:
    """Write skill-pair questions (model synthesis), clean prompts, build the skill inventory,
    compose skill-pair prompts; one commit."""
    loaded = state.prompts.num_rows
    skill_stage.write_prompts(state)
    hygiene.clean_prompts(state)
    if state.prompts.num_rows == 0:
        raise InputError(f"all {loaded} prompts were dropped by the filters (quality, dedup, decontam); "
                         "loosen them in the config")
    skill_stage.inventory(state)
    skill_stage.compose(state)
    commit_stage(state, "sources", {"loaded": loaded, "prompts": state.prompts.num_rows}, prompts=state.prompts)


def sampling_stage(state: CurationState) -> Sampling:
    """Fixed sampling, or with `temperature: auto` the temperature whose token entropy is nearest
    the target (AceReason-Nemotron 1.1), measured on a sample of these prompts."""
    cfg = state.cfg
    settings = cfg.sampling.model_dump()
    if settings["temperature"] == "auto":
        texts = state.prompts.column("prompt").to_pylist()
        conversations = [generate.conversation(p, cfg.prompt_format) for p in texts]
        chosen, probe = temperature.choose_temperature(state.backend, conversations, cfg.temperature)
        settings["temperature"] = chosen
        state.summary.temperature_probe = probe.to_pylist()
    return Sampling(**settings)


@task(name="generate-verify", cache_policy=NO_CACHE)
def generate_and_verify(state: CurationState, sampling: Sampling) -> None:
    """k samples per prompt (fixed k, or adaptive rounds), reusing the lake's samples of the same
    identity and an interrupted run's staged shards; then a verdict per sample."""
    cfg, backend, prompts = state.cfg, state.backend, state.prompts
    state.samples = sample_store(backend, state.lake, prompts, cfg, sampling)
    if cfg.adaptive is not None:
        with stage_bar("adaptive", cfg.adaptive.max_k) as advance:
            def sample(subset: pa.Table, indices: range) -> pa.Table:
                return sample_missing(backend, state.samples, subset, cfg, sampling, indices, lambda n: None)

            result = adaptive.sample_adaptively(backend, prompts, cfg.prompt_format, sampling, cfg.adaptive,
                                                progress=lambda r, a: advance(0), sample=sample)
        state.generations = in_sample_order(result.generations)
        state.verdicts = in_sample_order(result.verdicts, state.generations)
    else:
        state.generations = in_sample_order(generate_stage(backend, state.samples, prompts, cfg, sampling))
        state.verdicts = verify_stage(state.generations, prompts)
    state.summary.note_samples(state.samples.counts, backend)


def in_sample_order(table: pa.Table, generations: pa.Table | None = None) -> pa.Table:
    """Generations by (prompt_id, sample_index), or a per-generation table in their order: the
    same rows in the same order whether they were drawn now, reused or resumed (steps that keep a
    first occurrence, like response dedup, then keep the same one)."""
    if generations is None:
        return table.sort_by([("prompt_id", "ascending"), ("sample_index", "ascending")])
    rank = {gid: i for i, gid in enumerate(generations.column("generation_id").to_pylist())}
    ids = table.column("generation_id").to_pylist()
    return table.take(sorted(range(table.num_rows), key=lambda i: rank[ids[i]]))


def rank_stage(state: CurationState) -> None:
    """Pass rates and difficulty per prompt (this run's, or pooled in the difficulty ledger), and the
    policy's missing-skill profile; one commit."""
    state.stats = difficulty.prompt_stats(state.generations, state.verdicts, state.cfg.difficulty)
    ledger.update(state)
    skill_stage.profile(state)
    commit_stage(state, "rank", {"prompt_stats": state.stats.num_rows}, prompt_stats=state.stats)
    state.summary.buckets = state.stats.column("difficulty_bucket").to_pylist()


@task(name="splits", cache_policy=NO_CACHE)
def build_splits(state: CurationState) -> None:
    """Cut SFT, preference and RL tables, commit them, then register each split on that snapshot."""
    tables = split_stage.build(state)
    version = commit_stage(state, "splits", {})
    cfg = state.cfg
    entries = {getattr(cfg.splits, kind) + suffix: (kind, ids) for kind, table in tables.items()
               for suffix, ids in split_stage.split_rows(kind, table).items() if ids}
    if entries:
        register_splits(state.lake, entries, run_id=state.run_id, version=version)
    state.summary.splits = {name: (version, len(ids)) for name, (_, ids) in entries.items()}


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


def run_curation(cfg: CurateConfig, *, run_id: str | None = None, extra_prompts: pa.Table | None = None,
                 parent: str | None = None) -> RunSummary:
    """Validate inputs and model, take the lake's run lock, record the run, load the engine once,
    run the flow.

    extra_prompts (a prompts table, e.g. a loop's mined failures) join the configured sources;
    parent is the run that started this one (a loop)."""
    from curation.backends import load_backend
    from curation.models import resolve_model
    from flows.eval_sets import load_eval_sets
    from flows.preflight import check_methods, load_judge
    from flows.sources import load_prompts

    prompts = load_prompts(cfg.sources, cfg.data_roots, extra=extra_prompts)  # bad input fails here
    eval_sets = load_eval_sets(cfg.decontam.sources) if cfg.decontam is not None else None
    if cfg.backend != "openai":
        resolve_model(cfg.model)
    check_methods(cfg, prompts)  # a method switched on without its inputs fails here
    target_profile = skill_stage.synthesis_profile(cfg)  # synthesis without a profile fails here
    check_executor(cfg.executor)  # a Ray address that does not answer fails here, within seconds
    run_id = run_id or new_run_id()
    lake = Lake(cfg.lake)
    public = cfg.model_copy(update={"lake": public_location(cfg.lake)})  # what may be stored and logged
    with run_lock(lake), recorded_run(lake, run_id, "curate", public.model_dump_json(), parent=parent) as run:
        t0 = time.monotonic()
        if cfg.executor.type == "ray":  # workers load their own engines; the driver loads one lazily
            backend = engine_spec(cfg.backend, cfg.model, cfg.sampling.seed, cfg.backend_options)
        else:
            backend = load_backend(cfg.backend, cfg.model, seed=cfg.sampling.seed, options=cfg.backend_options)
        flow_fn = curate_flow.with_options(task_runner=task_runner_for(cfg.executor))
        judge = None
        try:
            judge = load_judge(cfg, backend)
            with flow_settings():
                summary = flow_fn(public, prompts, backend, run_id, eval_sets, judge, target_profile)
        finally:
            if judge is not None and judge is not backend:
                judge.close()
            backend.close()
        summary.seconds = time.monotonic() - t0
        run.detail = json.dumps(summary.details())
        return summary
