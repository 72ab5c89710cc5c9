"""One record per run in the lake's `runs` table, the same way for curate, train and loop.

A run holds a lock that dies with its process (flows/locking.py) from before its `running` row is
written until after its last one, so a `running` row whose lock is free belongs to a dead process:
the next run on the lake (or `warmstart runs`) marks it `interrupted`, no timeout guessed.

    with recorded_run(lake, run_id, "train", config_json, parent="loop0") as run:
        ...                                   # raises: failed (Ctrl-C: interrupted)
        run.detail = checkpoint               # ends: completed, with this detail
        run.tables["train_metrics"] = rows    # committed with the last row, in one snapshot
"""

import re
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flows.locking import Busy, holder_name, lock_set
from schemas.errors import LakeError
from schemas.ids import content_id
from schemas.lake import Lake
from schemas.lake_sql import literal

STATUSES = ("running", "completed", "failed", "interrupted")
KINDS = ("curate", "train", "loop")
LIVE_WAIT_S = 10.0  # a run's own lock may be held for a moment by a command checking whether it lives


@dataclass
class RunRecord:
    """A run's `runs` row in the making: `detail` and `tables` go into its last commit."""

    lake: Lake
    run_id: str
    kind: str
    config: str
    parent: str | None
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    detail: str = ""
    tables: dict = field(default_factory=dict)

    def write(self, status: str, detail: str = "") -> None:
        """Upsert the row in `status` (finished unless running); a last row brings `tables` along."""
        row = {"run_id": self.run_id, "kind": self.kind, "config": self.config, "started": self.started,
               "finished": None if status == "running" else now(), "status": status,
               "parent_run_id": self.parent, "detail": detail}
        extra = {} if status == "running" else self.tables
        self.lake.commit({**extra, "runs": [row]}, run_id=self.run_id)


@contextmanager
def recorded_run(lake: Lake, run_id: str, kind: str, config: str, *, parent: str | None = None,
                 enabled: bool = True):
    """Hold the run's life lock, close dead runs, record `running`; on exit the outcome.

    enabled=False yields the record without locking or writing (a run outside any lake)."""
    assert kind in KINDS, kind
    run = RunRecord(lake, run_id, kind, config, parent)
    if not enabled:
        yield run
        return
    with ExitStack() as stack:
        try:
            stack.enter_context(lock_set(lake).hold(life_lock(run_id), wait_s=LIVE_WAIT_S))
        except Busy as exc:
            raise LakeError(f"run {run_id} is already running ({exc.holder}) on lake {lake.where.display}") from None
        close_dead_runs(lake)
        run.write("running")
        try:
            yield run
        except BaseException as exc:
            _record_failure(run, exc)
            raise
        run.write("completed", run.detail)


def _record_failure(run: RunRecord, exc: BaseException) -> None:
    """failed, or interrupted on Ctrl-C; when even that write fails, the row stays `running` and
    the next command closes it (its lock dies with this process)."""
    if isinstance(exc, KeyboardInterrupt):
        status, detail = "interrupted", "stopped by Ctrl-C (KeyboardInterrupt)"
    else:
        status, detail = "failed", f"{type(exc).__name__}: {exc}"
    try:
        run.write(status, run.lake.where.redact(detail)[:500])
    except LakeError as failed:
        exc.add_note(f"(the run could not be recorded as {status}: {failed})")


def life_lock(run_id: str) -> str:
    """The lock a live run holds (run ids are safe names; anything else is hashed)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", run_id):
        run_id = content_id(run_id)
    return f"runs/{run_id}"


def close_dead_runs(lake: Lake) -> list[str]:
    """Mark `interrupted` every `running` run whose life lock is free (its process is gone), and
    rows of the older vocabulary (failed + "interrupted"); returns the run ids changed."""
    if not lake.exists():
        return []
    rows = lake.query("SELECT run_id, status FROM runs WHERE status = 'running' OR "
                      "(status = 'failed' AND detail = 'interrupted')").to_pylist()
    if not rows:
        return []
    running = [r["run_id"] for r in rows if r["status"] == "running"]
    with lock_set(lake).free_among([life_lock(i) for i in running]) as free:
        # holding the dead runs' locks, read again: a run may have ended between the reads
        dead = [i for i in running if life_lock(i) in free]
        found = f"run_id IN ({', '.join(literal(i) for i in dead)})" if dead else "false"
        fixes = lake.query(f"SELECT * FROM runs WHERE (status = 'running' AND {found}) OR "
                           "(status = 'failed' AND detail = 'interrupted')").to_pylist()
        for row in fixes:
            row["detail"] = (f"process ended without recording an outcome (killed?); found by {holder_name()}"
                             if row["status"] == "running" else "stopped by Ctrl-C (KeyboardInterrupt)")
            row.update(status="interrupted", finished=row["finished"] or now())
        if fixes:
            lake.commit({"runs": fixes})
    return [row["run_id"] for row in fixes]


def now() -> datetime:
    return datetime.now(timezone.utc)


def list_runs(lake: Lake, *, kind: str | None = None, status: str | None = None, limit: int = 20) -> list[dict]:
    """The newest runs, after closing dead ones: id, kind, status, started, seconds, parent, what
    it produced (a curate run's splits, a train run's checkpoint, a loop's rounds) and why it ended."""
    close_dead_runs(lake)
    filters = ([f"r.kind = {literal(kind)}"] if kind else []) + ([f"r.status = {literal(status)}"] if status else [])
    rows = lake.query(f"""
        SELECT r.run_id, r.kind, r.status, r.started, r.finished, r.parent_run_id, r.detail,
               s.splits, l.rounds, l.checkpoint
        FROM runs r
        LEFT JOIN (SELECT run_id, string_agg(split_name || ' v' || version || ' (' || n_rows || ' rows)', ', '
                                             ORDER BY split_name) AS splits
                   FROM splits GROUP BY run_id) s USING (run_id)
        LEFT JOIN (SELECT loop_id AS run_id, count(*) FILTER (WHERE status = 'completed') AS rounds,
                          arg_max(checkpoint, round) FILTER (WHERE status = 'completed') AS checkpoint
                   FROM loop_rounds GROUP BY loop_id) l USING (run_id)
        {'WHERE ' + ' AND '.join(filters) if filters else ''}
        ORDER BY r.started DESC, r.run_id LIMIT {int(limit)}""").to_pylist()
    return [_listed(row) for row in rows]


def _listed(row: dict) -> dict:
    ended = row["finished"] or now()
    produced = {"curate": row["splits"],
                "train": row["detail"] if row["status"] == "completed" else None,
                "loop": f"{row['rounds']} round(s), last checkpoint {row['checkpoint']}" if row["rounds"] else None}
    return {"run_id": row["run_id"], "kind": row["kind"], "status": row["status"], "started": row["started"],
            "seconds": round((ended - row["started"]).total_seconds(), 1) if row["started"] else None,
            "parent": row["parent_run_id"], "produced": produced.get(row["kind"]),
            "why": row["detail"] if row["status"] in ("failed", "interrupted") else None}
