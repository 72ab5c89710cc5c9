"""Where the curate flow's generation shards run: in the flow's process, or on a Ray cluster.

local: the engine the flow loaded once samples shard after shard (the default).
ray:   the pending shards are dealt to N workers (data parallel); each worker is one Ray task
       that loads its own engine once (one vLLM engine per GPU, or per `gpus_per_worker` GPUs
       when the engine is tensor parallel) and stages every shard it finishes, so a crash loses
       at most one shard per worker. Staging needs the lake folder (a PostgreSQL lake: its
       data_path) on storage every node sees.

    executor: {type: ray, address: "10.0.0.5:6379", workers: 8}
"""

import copy
import os
import socket
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from curation.backends.base import GenerationBackend
from flows.shards import Shard, cut_shards, generate_shard
from schemas.config import StrictModel
from schemas.errors import ConfigError


class ExecutorConfig(StrictModel):
    """The `executor:` key of a curate config."""

    type: Literal["local", "ray"] = Field("local", description="local: in-process; ray: shard tasks on Ray")
    address: str | None = Field(None, description="Ray cluster: host:port of `ray start --head`, "
                                "ray://host:10001 or auto; unset starts a temporary local Ray")
    workers: int | None = Field(None, ge=1, description="engines sampling in parallel; default: the "
                                "cluster's GPUs / gpus_per_worker, or one per node without GPUs")
    gpus_per_worker: float | None = Field(None, ge=0, description="GPUs per engine; default: vLLM's "
                                          "tensor_parallel_size on a GPU cluster, else 0")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves per engine")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="seconds the Ray address has to answer")


def check_executor(cfg: ExecutorConfig) -> None:
    """Fail within seconds, before anything is written, when the Ray address does not answer."""
    if cfg.type != "ray" or cfg.address in (None, "auto"):
        return
    host, port = parse_address(cfg.address)
    try:
        with socket.create_connection((host, port), timeout=cfg.connect_timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__.replace("Error", "").lower() or "no answer"
        raise ConfigError(f"executor.address '{cfg.address}': no Ray cluster answers there ({reason}); "
                          "start one with `ray start --head --port=6379`") from None


def parse_address(address: str) -> tuple[str, int]:
    """'ray://h:10001' or 'h:6379' -> (host, port); a ConfigError names a malformed address."""
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"executor.address '{address}': expected host:port or ray://host:port")
    return host.strip("[]"), int(port)


def task_runner_for(cfg: ExecutorConfig):
    """The Prefect task runner for this executor (checks the Ray address first)."""
    if cfg.type == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1)
    check_executor(cfg)
    from prefect_ray import RayTaskRunner

    return RayTaskRunner(address=cfg.address, init_kwargs={"runtime_env": {"env_vars": worker_env()},
                                                           "log_to_driver": False})


def worker_env() -> dict[str, str]:
    """Environment for Ray workers: the driver's Prefect API (so task runs land in the same
    place) and quiet, analytics-free Prefect. Without a server this starts the ephemeral API."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        api = server.api_url
    env = {"PREFECT_API_URL": api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
           "TOKENIZERS_PARALLELISM": "false"}
    root = str(Path(__file__).resolve().parents[1])  # workers on this host import warmstart from here
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return env


class EngineSpec(GenerationBackend):
    """What a Ray worker needs to load its own engine; on the driver it stands in for the backend.

    Stages other than sharded generation (temperature probe, skill proposals, ...) still call
    generate() on the driver: the spec then loads a local engine on first use."""

    def __init__(self, kind: str, model: str, seed: int = 0, options: dict[str, Any] | None = None):
        self.kind, self.model, self.seed, self.options = kind, model, seed, dict(options or {})
        self.model_name = model if kind == "openai" else Path(model).name  # as the backend reports it
        self._local = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_local": None}  # ship the recipe, never an engine

    def load(self) -> GenerationBackend:
        """Load the engine (in the worker process)."""
        from curation.backends import load_backend

        return load_backend(self.kind, self.model, seed=self.seed, options=self.options)

    def generate(self, conversations, n, sampling, **kwargs):
        """Generate on the driver with a local engine, loaded once on first use."""
        self._local = self._local or self.load()
        return self._local.generate(conversations, n, sampling, **kwargs)

    def close(self) -> None:
        """Free the driver's local engine, if one was loaded."""
        if self._local is not None:
            self._local.close()
            self._local = None


def engine_spec(kind: str, model: str, seed: int, options: dict | None) -> EngineSpec:
    """An EngineSpec with the model resolved to an absolute path on the driver."""
    if kind != "openai":
        from curation.models import resolve_model

        model = str(resolve_model(model).resolve())
    return EngineSpec(kind, model, seed, dict(options or {}))


def assign_shards(shards: list[Shard], workers: int) -> list[list[Shard]]:
    """Deal shards to at most `workers` workers, balancing samples (largest first, least loaded)."""
    if workers < 1:
        raise ConfigError(f"executor.workers must be at least 1, got {workers}")
    groups: list[list[Shard]] = [[] for _ in range(min(workers, len(shards)))]
    load = [0] * len(groups)
    order = sorted(range(len(shards)), key=lambda i: -len(shards[i][0]) * len(shards[i][1]))
    for i in order:
        target = load.index(min(load))
        groups[target].append(shards[i])
        load[target] += len(shards[i][0]) * len(shards[i][1])
    return [sorted(g, key=shards.index) for g in groups]


def worker_count(cfg: ExecutorConfig, resources: dict[str, float], nodes: int, gpus_per_worker: float) -> int:
    """Engines to run: as configured, else one per gpus_per_worker GPUs, else one per node."""
    if cfg.workers:
        return cfg.workers
    if gpus_per_worker > 0 and resources.get("GPU", 0) >= gpus_per_worker:
        return int(resources["GPU"] // gpus_per_worker)
    return max(1, nodes)


def gpus_for(cfg: ExecutorConfig, resources: dict[str, float], backend_options: dict) -> float:
    """GPUs per engine: as configured, else vLLM's tensor_parallel_size when the cluster has GPUs."""
    if cfg.gpus_per_worker is not None:
        return cfg.gpus_per_worker
    return float(backend_options.get("tensor_parallel_size", 1)) if resources.get("GPU", 0) else 0.0


def localize(prompts: pa.Table, group: list[Shard]) -> tuple[pa.Table, list[Shard]]:
    """Only the prompts a worker needs, with its shards' row numbers pointing into them."""
    rows = sorted({row for _, shard_rows in group for row in shard_rows})
    position = {row: i for i, row in enumerate(rows)}
    return prompts.take(rows), [(indices, [position[r] for r in shard_rows]) for indices, shard_rows in group]


@task(name="generate-worker", cache_policy=NO_CACHE)
def generate_on_worker(spec: EngineSpec, prompts: pa.Table, shards: list[Shard], cfg,
                       sampling, stage) -> pa.Table:
    """One data-parallel worker: load the engine once, sample and stage each of its shards."""
    backend = spec.load()
    try:
        tables = [generate_shard.fn(backend, prompts.take(rows), cfg, sampling, list(indices), stage,
                                    lambda n: None) for indices, rows in shards]
    finally:
        backend.close()
    return pa.concat_tables(tables)


def generate_parallel(spec: EngineSpec, prompts: pa.Table, work: dict[tuple, list[int]], cfg,
                      sampling, stage, advance, executor: ExecutorConfig) -> list[pa.Table]:
    """Sample all pending work on Ray workers; call inside a flow run on task_runner_for(executor).

    `cfg` is the CurateConfig (prompt_format, shard_size), `stage` its GenerationStage."""
    import ray
    from prefect_ray.context import remote_options

    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    gpus = gpus_for(executor, resources, spec.options)
    groups = assign_shards(cut_shards(work, cfg.shard_size), worker_count(executor, resources, nodes, gpus))
    # max_calls=1 (Ray's GPU default, made explicit): each worker process exits after its task,
    # so an engine's device memory is freed before another engine is placed on that GPU.
    remote_stage = copy.copy(stage)
    remote_stage.folder = Path(stage.folder).resolve()  # workers may not share the driver's cwd
    with remote_options(num_cpus=executor.cpus_per_worker, num_gpus=gpus, max_calls=1):
        futures = [generate_on_worker.submit(spec, *localize(prompts, group), cfg, sampling, remote_stage)
                   for group in groups]
    tables = []
    for future, group in zip(futures, groups):
        tables.append(future.result())
        advance(sum(len(rows) for _, rows in group))
    return tables
