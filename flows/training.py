"""Train from a config and record the run in the lake: everything is checked first (bad input
writes nothing), then the run is recorded as "running" (flows/run_record.py), and at the end as
"completed", "failed" or "interrupted" with all its metrics in one commit. `runs.config` holds the
lineage: the split name, version and lake snapshot the checkpoint came from.

    result, recorded = train_and_record("sft", cfg, Lake("data/lake"), parent="loop0")
"""

import json
import uuid

from flows.run_record import recorded_run
from schemas.errors import WarmstartError
from schemas.lake import Lake


def train_and_record(trainer: str, cfg, lake: Lake, *, parent: str | None = None, run_id: str | None = None):
    """Check, train, and record the run (kind "train") with its metrics; returns (result, recorded).

    The run is recorded whenever it trains from a split (or the lake exists)."""
    from trainers.run import execute, prepare_run

    run_id = run_id or uuid.uuid4().hex[:12]
    prepared = prepare_run(trainer, cfg, lake=lake, run_id=run_id)  # bad input stops here
    record = bool(cfg.split or cfg.eval_split) or lake.exists()
    parent = parent or prepared.lineage.get("resumed_run_id")
    config = json.dumps(prepared.lineage, sort_keys=True, default=str)
    try:
        with recorded_run(lake, run_id, "train", config, parent=parent, enabled=record) as run:
            metrics = run.tables.setdefault("train_metrics", [])  # committed with the last row

            def collect(step: int, values: dict) -> None:
                metrics.extend({"run_id": run_id, "step": step, "metric": k, "value": float(v)}
                               for k, v in values.items())

            result = execute(prepared, run_id=run_id, on_metrics=collect)
            run.detail = str(result.checkpoint.resolve())
    except Exception as exc:
        if isinstance(exc, WarmstartError):
            raise
        raise WarmstartError(f"training failed: {type(exc).__name__}: {exc}") from exc
    return result, record
