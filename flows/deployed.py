"""The flows that deployments point at (entrypoints `flows.deployed.curate_from_config` and
`flows.deployed.train_from_split`): JSON parameters in, the library calls, a summary artifact out.

A worker (`warmstart schedule --serve`) runs them in a child process whose working directory is
the one `warmstart schedule` was called from, so relative paths in configs mean the same there.
"""

import json

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from flows.train_args import parse_train_flags, train_config, train_flags
from schemas.errors import LakeError

CURATE_FLOW = "warmstart-curate"
TRAIN_FLOW = "warmstart-train"


@flow(name=CURATE_FLOW, log_prints=True)
def curate_from_config(config_path: str, overrides: list[str] | None = None) -> dict:
    """`warmstart run CONFIG` as a deployment; the lake's run_id ends this flow run's id (12 hex)."""
    from flows.config import load_config
    from flows.curate import run_curation

    cfg = load_config(config_path, overrides or [])
    summary = run_curation(cfg, run_id=lake_run_id())
    publish_summary(summary)
    get_run_logger().info("curate run %s: %s", summary.run_id, json.dumps(summary.counts))
    return {"run_id": summary.run_id, "counts": summary.counts,
            "splits": {name: {"version": v, "rows": n} for name, (v, n) in summary.splits.items()}}


def lake_run_id() -> str:
    """The current flow run's id, shortened like warmstart's run ids (a random one outside a run).

    Prefect's ids are UUIDv7, time first: the last 12 hex digits are the random, distinct part."""
    import uuid

    return (flow_run.get_id() or uuid.uuid4().hex).replace("-", "")[-12:]


def publish_summary(summary) -> None:
    """The run summary as Prefect table artifacts (stages, splits), shown in the UI."""
    stages = [{"stage": name, "lake_version": version, "rows": ", ".join(f"{k}={v}" for k, v in counts.items())}
              for name, version, counts in summary.stages]
    create_table_artifact(stages, key="curate-summary",
                          description=f"warmstart curate run `{summary.run_id}`, {summary.seconds:.0f} s")
    splits = [{"split": name, "version": version, "rows": rows} for name, (version, rows) in summary.splits.items()]
    if splits:
        create_table_artifact(splits, key="curate-splits", description=f"splits cut by run `{summary.run_id}`")


@flow(name=TRAIN_FLOW, log_prints=True)
def train_from_split(kind: str, split: str, version: int | None = None, lake: str = "data/lake",
                     args: list[str] | None = None) -> dict:
    """`warmstart train KIND --split SPLIT [--version V] ARGS` as a flow; returns the lake's train run,
    whose parent_run_id is this flow run (checkpoint, split and split version included)."""
    parent = lake_run_id()
    args = list(args or []) + ["--parent", parent]
    if "--out" not in args:
        args += ["--out", f"checkpoints/{kind}-{parent}"]
    from flows.training import train_split
    from schemas.lake import Lake

    options = parse_train_flags(kind, train_flags(split, version, lake, args))
    # as `warmstart train` does: a DMT mix trains both stages; each run, its metrics and split version recorded
    for result, _ in train_split(kind, train_config(kind, options), Lake(options.lake), parent=options.parent):
        get_run_logger().info("%s run %s: %d steps, checkpoint %s", kind, result.run_id, result.steps,
                              result.checkpoint)
    run = trained_run(lake, parent)  # the last stage's
    create_table_artifact([run], key="train-run", description=f"{kind} on split {split}")
    return run


def trained_run(lake: str, parent: str) -> dict:
    """The completed train run started by flow run `parent`: run id, split, version, checkpoint."""
    from schemas.lake import Lake
    from schemas.lake_sql import literal

    rows = Lake(lake).query("SELECT run_id, config, detail FROM runs WHERE kind = 'train' AND status = "
                            f"'completed' AND parent_run_id = {literal(parent)} ORDER BY finished DESC LIMIT 1")
    if rows.num_rows == 0:
        raise LakeError(f"no completed train run of flow run {parent} in lake {lake}")
    row = rows.to_pylist()[0]
    lineage = json.loads(row["config"])
    return {"run_id": row["run_id"], "split": lineage.get("split"), "split_version": lineage.get("split_version"),
            "checkpoint": row["detail"]}
