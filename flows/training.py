"""Train from a config and record the run in the lake: everything is checked first (bad input
writes nothing), then the run is recorded as "running", and at the end as "completed" or
"failed" with all its metrics in one commit. `runs.config` holds the lineage: the split name,
version and lake snapshot the checkpoint came from.

    result, recorded = train_and_record("sft", cfg, Lake("data/lake"), parent="loop0")
"""

import json
import uuid
from datetime import datetime, timezone

from schemas.errors import WarmstartError
from schemas.lake import Lake


def train_and_record(trainer: str, cfg, lake: Lake, *, parent: str | None = None, run_id: str | None = None):
    """Check, train, and record the run (kind "train") with its metrics; returns (result, recorded).

    The run is recorded whenever it trains from a split (or the lake exists)."""
    from trainers.launch import launch
    from trainers.parallel import launched_by_torchrun
    from trainers.run import execute, prepare_run

    run_id = run_id or uuid.uuid4().hex[:12]
    prepared = prepare_run(trainer, cfg, lake=lake, run_id=run_id)  # bad input stops here
    record = bool(cfg.split or cfg.eval_split) or lake.exists()
    parent = parent or prepared.lineage.get("resumed_run_id")
    run = {"run_id": run_id, "kind": "train", "config": json.dumps(prepared.lineage, sort_keys=True, default=str),
           "started": datetime.now(timezone.utc), "parent_run_id": parent}
    if record:
        record_train_run(lake, run, "running")
    metrics: list[dict] = []

    def collect(step: int, values: dict) -> None:
        metrics.extend({"run_id": run_id, "step": step, "metric": k, "value": float(v)} for k, v in values.items())

    try:
        train_fn = launch if cfg.gpus > 1 and not launched_by_torchrun() else execute  # --gpus N: N processes
        result = train_fn(prepared, run_id=run_id, on_metrics=collect)
    except BaseException as exc:
        if record:
            detail = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            record_train_run(lake, run, "failed", detail[:500], metrics)
        if isinstance(exc, Exception) and not isinstance(exc, WarmstartError):
            raise WarmstartError(f"training failed: {type(exc).__name__}: {exc}") from exc
        raise
    if record:
        record_train_run(lake, run, "completed", str(result.checkpoint.resolve()), metrics)
    return result, record


def record_train_run(lake: Lake, run: dict, status: str, detail: str = "", metrics: list[dict] | None = None) -> None:
    """One `runs` row for `run` in `status` (finished unless running), with its metrics, in one commit."""
    finished = None if status == "running" else datetime.now(timezone.utc)
    tables = {"runs": [{**run, "finished": finished, "status": status, "detail": detail}]}
    if metrics:
        tables["train_metrics"] = metrics
    lake.commit(tables, run_id=run["run_id"])
