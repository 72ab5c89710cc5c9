"""Train from a config and record the run in the lake: everything is checked first (bad input
writes nothing), then the run is recorded as "running" (flows/run_record.py), and at the end as
"completed", "failed" or "interrupted" with all its metrics in one commit. `runs.config` holds the
lineage: the split name, version and lake snapshot the checkpoint came from.

    result, recorded = train_and_record("sft", cfg, Lake("data/lake"), parent="loop0")
    trained = train_split("sft", cfg, Lake("data/lake"))  # a DMT mix: stage 1, then stage 2

DMT (dual-stage mixed fine-tuning) trains the specialist stage, then the general data plus a
replay of the specialist data from the stage-1 checkpoint, so the specialist ability is not
forgotten: two recorded runs, the second's lineage naming the first.
"""

import json
import uuid
from pathlib import Path

from flows.run_record import recorded_run
from schemas.errors import ConfigError, WarmstartError
from schemas.lake import Lake
from schemas.split_registry import split_stages


def train_split(trainer: str, cfg, lake: Lake, *, parent: str | None = None, run_id: str | None = None) -> list:
    """Train on cfg.split (or cfg.data) and record each run; returns [(result, recorded)], one per stage.

    A DMT mix (lake splits <split>_stage1 and <split>_stage2, or a --data folder holding both
    stages' exports) trains stage 1, then stage 2 from its checkpoint: the final run has `run_id`
    and `cfg.out`, stage 1 has `<run_id>-stage1` and `<out>-stage1`. Both stages' rows are
    checked before anything trains."""
    from trainers.data import export_stages, load_split

    if cfg.data is not None:
        stages = [{"data": str(f)} for f in export_stages(cfg.data)] or [{}]
    else:
        stages = [{"split": name} for name in (split_stages(lake, cfg.split, cfg.version) if cfg.split else [None])]
    if len(stages) == 1:
        return [train_and_record(trainer, cfg, lake, parent=parent, run_id=run_id)]
    if cfg.resume:
        raise ConfigError("--resume of a two-stage DMT split: resume one stage by name (its split or file, "
                          "and its --out)")
    load_split(trainer, lake=lake, version=cfg.version, **stages[1])  # bad stage-2 rows stop here
    run_id = run_id or uuid.uuid4().hex[:12]
    first_out = f"{cfg.out}-stage1" if cfg.out else None
    first = train_and_record(trainer, cfg.model_copy(update={**stages[0], "out": first_out}), lake,
                             parent=parent, run_id=f"{run_id}-stage1", lineage={"dmt_stage": 1})
    checkpoint = str(Path(first[0].checkpoint).resolve())
    second = train_and_record(trainer, cfg.model_copy(update={**stages[1], "model": checkpoint}), lake,
                              parent=parent, run_id=run_id,
                              lineage={"dmt_stage": 2, "previous_stage_run_id": first[0].run_id})
    return [first, second]


def train_and_record(trainer: str, cfg, lake: Lake, *, parent: str | None = None, run_id: str | None = None,
                     lineage: dict | None = None):
    """Check, train, and record the run (kind "train") with its metrics; returns (result, recorded).

    The run is recorded whenever it trains from a split (or the lake exists); `lineage` adds
    entries to the run's recorded lineage."""
    from trainers.run import execute, prepare_run

    run_id = run_id or uuid.uuid4().hex[:12]
    prepared = prepare_run(trainer, cfg, lake=lake, run_id=run_id)  # bad input stops here
    prepared.lineage.update(lineage or {})
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
