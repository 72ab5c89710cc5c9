"""Deployments on a Prefect server: scheduled curation, training on a new split version, and the
worker that runs both (`serve`): a Prefect process worker plus a loop that watches the lake.

Deployments live on the server in the work pool "warmstart"; the worker starts each flow run as
a child process. Every function takes the API URL and fails within seconds when it is down.
"""

import os
import re
import shlex
import threading
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flows.deployed import TRAIN_FLOW, parse_train_args, train_argv
from flows.server import check_api
from schemas.errors import ConfigError, LakeError
from schemas.lake_location import is_postgres_url, mask_urls, public_location

POOL = "warmstart"
TAG = "warmstart"
TRIGGER_TAG = "on-new-version"
AFTER = "after-version:"  # tag holding the newest split version a trigger has handled


@contextmanager
def connected(api: str):
    """A sync Prefect client on `api`, after a quick health check (ConfigError when down)."""
    check_api(api)
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        yield client


def schedule_kwargs(cron: str | None, interval: float | None, timezone: str | None = None) -> dict:
    """Validated cron/interval arguments for a deployment (ConfigError before any write)."""
    from pydantic import ValidationError
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    if (cron is None) == (interval is None):
        raise ConfigError("give exactly one of --cron EXPR or --interval SECONDS")
    try:
        if cron is not None:
            return {"schedule": CronSchedule(cron=cron, timezone=timezone)}
        if interval <= 0:
            raise ConfigError(f"--interval must be positive seconds, got {interval}")
        return {"schedule": IntervalSchedule(interval=timedelta(seconds=interval), timezone=timezone)}
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        if cron is None:
            raise ConfigError(f"--interval {interval} / --timezone {timezone}: {reason}") from None
        raise ConfigError(f"--cron '{cron}': {reason} (cron has 5 fields: minute hour day-of-month "
                          "month day-of-week)") from None


def ensure_pool(client) -> None:
    """Create the process work pool that warmstart's deployments run in (idempotent)."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    try:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process",
                                               base_job_template=ProcessWorker.get_default_base_job_template()))
    except ObjectAlreadyExists:
        pass


def apply(flow, name: str, api: str, *, parameters: dict, tags: list[str], **schedule) -> str:
    """Register (or update) deployment `name` of `flow` in the warmstart pool; returns flow/name."""
    from prefect.deployments.runner import EntrypointType

    deployment = flow.to_deployment(name, parameters=parameters, tags=[TAG, *tags], concurrency_limit=1,
                                    job_variables={"working_dir": str(Path.cwd())},
                                    entrypoint_type=EntrypointType.MODULE_PATH, **schedule)
    with connected(api) as client:
        ensure_pool(client)
        deployment.apply(work_pool_name=POOL)
    return f"{flow.name}/{name}"


def register_curate(config_path: str | Path, api: str, *, overrides: list[str] | None = None,
                    cron: str | None = None, interval: float | None = None, name: str | None = None,
                    timezone: str | None = None) -> str:
    """Schedule `warmstart run CONFIG` on the server; the config is checked first."""
    from flows.config import load_config
    from flows.deployed import curate_from_config

    schedule = schedule_kwargs(cron, interval, timezone)
    load_config(config_path, overrides)  # a bad config registers nothing
    parameters = {"config_path": str(Path(config_path).resolve()),
                  "overrides": [mask_urls(item) for item in overrides or []]}  # e.g. lake=postgres://...
    return apply(curate_from_config, name or Path(config_path).stem, api, parameters=parameters, tags=[],
                 **schedule)


def register_train(kind: str, split: str, lake: str, api: str, *, args: str = "", name: str | None = None,
                   on_new_version: bool = False) -> str:
    """A `train` deployment over a split; with on_new_version, `serve` starts it for each new version."""
    from flows.deployed import train_from_split
    from schemas.lake import Lake

    extra = shlex.split(args)
    parse_train_args(train_argv(kind, split, None, lake, extra))  # bad flags register nothing
    lake = absolute_lake(lake)
    tags = []
    if on_new_version:
        tags = [TRIGGER_TAG, f"{AFTER}{latest_split_version(Lake(lake), split) or 0}"]
    parameters = {"kind": kind, "split": split, "lake": lake, "args": extra}
    return apply(train_from_split, name or f"{kind}-{split}", api, parameters=parameters, tags=tags)


def absolute_lake(lake: str) -> str:
    """A lake directory as an absolute path (the worker may run elsewhere); a URL with its password
    masked: Prefect stores parameters, so the worker reads the password from PGPASSWORD or ~/.pgpass."""
    return public_location(lake) if is_postgres_url(lake) else str(Path(lake).resolve())


def latest_split_version(lake, split: str) -> int | None:
    """The newest version of `split` (or of its DMT stage 2) in the lake (None without a lake or such a split)."""
    from schemas.lake import MissingLakeError
    from schemas.lake_sql import literal
    from schemas.split_registry import stage_split

    names = ", ".join(literal(n) for n in (split, stage_split(split, 2)))
    try:
        rows = lake.query(f"SELECT max(version) AS v FROM splits WHERE split_name IN ({names})")
    except MissingLakeError:
        return None
    except LakeError as exc:
        if "splits" in str(exc) and "does not exist" in str(exc):
            return None
        raise
    return rows.column("v")[0].as_py()


def warmstart_deployments(client) -> list:
    """Every deployment warmstart registered, with its flow name."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    found = client.read_deployments(deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG])))
    flows = {flow_id: client.read_flow(flow_id).name for flow_id in {d.flow_id for d in found}}
    return sorted(((flows[d.flow_id], d) for d in found), key=lambda pair: (pair[0], pair[1].name))


def describe(deployment) -> str:
    """When a deployment runs: its schedules, its trigger, or on demand."""
    parts = []
    for item in deployment.schedules:
        schedule = item.schedule
        parts.append(f"cron {schedule.cron}" if hasattr(schedule, "cron")
                     else f"every {schedule.interval.total_seconds():g} s" if hasattr(schedule, "interval")
                     else str(schedule))
    if TRIGGER_TAG in deployment.tags:
        after = next((t[len(AFTER):] for t in deployment.tags if t.startswith(AFTER)), "0")
        parts.append(f"new version of split {deployment.parameters.get('split')} (after v{after})")
    return "; ".join(parts) or "on demand"


def list_deployments(api: str) -> list[dict]:
    """Rows for `warmstart schedule --list`."""
    with connected(api) as client:
        return [{"name": f"{flow_name}/{d.name}", "runs": describe(d), "paused": d.paused,
                 "parameters": d.parameters} for flow_name, d in warmstart_deployments(client)]


def delete_deployment(name: str, api: str) -> str:
    """Delete a warmstart deployment by `flow/name` or plain name; returns the full name."""
    with connected(api) as client:
        matches = [(f, d) for f, d in warmstart_deployments(client) if name in (d.name, f"{f}/{d.name}")]
        if len(matches) != 1:
            known = ", ".join(f"{f}/{d.name}" for f, d in warmstart_deployments(client)) or "none"
            raise ConfigError(f"{'no' if not matches else 'more than one'} warmstart deployment named "
                              f"'{name}'; deployments: {known}")
        flow_name, deployment = matches[0]
        drop_waiting_runs(client, deployment.id)
        client.delete_deployment(deployment.id)
        return f"{flow_name}/{deployment.name}"


def drop_waiting_runs(client, deployment_id) -> int:
    """Delete a deployment's runs that have not started (scheduled, pending), so no worker
    tries them after the deployment is gone; runs under way finish."""
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterDeploymentId,
                                                FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    waiting = client.read_flow_runs(flow_run_filter=FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING]))))
    for run in waiting:
        client.delete_flow_run(run.id)
    return len(waiting)


def check_triggers(client) -> list[str]:
    """One pass of the watcher: start a train run for each trigger whose split has a newer version.

    The idempotency key makes a repeated pass (or two watchers) start each version's run once."""
    from prefect.client.schemas.actions import DeploymentUpdate

    from schemas.lake import Lake

    started = []
    for flow_name, dep in warmstart_deployments(client):
        if flow_name != TRAIN_FLOW or TRIGGER_TAG not in dep.tags:
            continue
        after = max([int(t[len(AFTER):]) for t in dep.tags if t.startswith(AFTER)] or [0])
        latest = latest_split_version(Lake(dep.parameters["lake"]), dep.parameters["split"])
        if latest is None or latest <= after:
            continue
        run = client.create_flow_run_from_deployment(dep.id, parameters={"version": latest},
                                                     idempotency_key=f"{dep.id}:{latest}")
        tags = [t for t in dep.tags if not t.startswith(AFTER)] + [f"{AFTER}{latest}"]
        client.update_deployment(dep.id, DeploymentUpdate(tags=tags))
        started.append(run.name)
    return started


def watch_triggers(api: str, poll_s: float, stop: threading.Event, log=print) -> None:
    """Run check_triggers every poll_s seconds until `stop` is set; errors are logged, not fatal."""
    while not stop.is_set():
        try:
            with connected(api) as client:
                for name in check_triggers(client):
                    log(f"new split version: started train run {name}")
        except Exception as exc:  # the worker must outlive a busy lake or a server restart
            log(f"trigger check failed: {type(exc).__name__}: {exc}")
        stop.wait(poll_s)


def ensure_train_deployment(api: str) -> str:
    """The on-demand `warmstart-train/train` deployment (for the UI and `train --via-prefect`)."""
    from flows.deployed import train_from_split

    return apply(train_from_split, "train", api, parameters={}, tags=[])


def serve(api: str, *, poll_s: float = 10.0, log=print) -> None:
    """Run scheduled and triggered flow runs until interrupted: a process worker on the warmstart
    pool, and the split-version watcher beside it."""
    import anyio

    from prefect.settings import PREFECT_API_URL, PREFECT_WORKER_QUERY_SECONDS, temporary_settings
    from prefect.workers.process import ProcessWorker

    check_api(api)
    os.environ["PREFECT_API_URL"] = api  # flow runs are child processes: they inherit it
    ensure_train_deployment(api)
    stop = threading.Event()
    watcher = threading.Thread(target=watch_triggers, args=(api, poll_s, stop, log), daemon=True)
    watcher.start()

    async def work() -> None:
        worker = ProcessWorker(work_pool_name=POOL, prefetch_seconds=poll_s)
        await worker.start(printer=log)

    try:
        with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_WORKER_QUERY_SECONDS: poll_s}):
            anyio.run(work)
    finally:
        stop.set()
        watcher.join(timeout=5)


def submit_train(kind: str, split: str, lake: str, api: str, *, args: list[str] | None = None,
                 version: int | None = None, wait_s: float | None = None):
    """Start a `train` flow run on the server (for `warmstart train ... --via-prefect`); returns it.

    With wait_s, wait that long for it to finish; it runs once a worker (`schedule --serve`) is up."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    parse_train_args(train_argv(kind, split, version, lake, list(args or [])))
    name = ensure_train_deployment(api)
    parameters = {"kind": kind, "split": split, "lake": absolute_lake(lake), "args": list(args or []),
                  "version": version}
    with temporary_settings(updates={PREFECT_API_URL: api}):
        return run_deployment(name, parameters=parameters, timeout=wait_s or 0, as_subflow=False,
                              poll_interval=2)


def flow_run_url(api: str, flow_run_id) -> str:
    """The UI page of a flow run."""
    return f"{re.sub(r'/api/?$', '', api)}/runs/flow-run/{flow_run_id}"

