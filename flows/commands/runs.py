"""`warmstart runs`: the lake's curate, train and loop runs with their status, duration, parent and
what each produced; a run whose process died is marked interrupted first (flows/run_record.py)."""

import pyarrow as pa

from flows.cli import add_command, add_lake_argument
from flows.commands.sql import write_result
from schemas.errors import ConfigError
from schemas.lake import Lake

EXAMPLES = ["warmstart runs                                          # the 20 newest runs",
            "warmstart runs --kind train --status completed --limit 5",
            "warmstart runs --status interrupted --format json      # runs whose process died or was stopped",
            "warmstart runs --lake 'postgres://me@db:5432/lake?data_path=/shared/lake'"]


def register(sub) -> None:
    from flows.run_record import KINDS, STATUSES

    parser = add_command(sub, "runs", "list runs: status, duration, parent and what each produced", EXAMPLES)
    add_lake_argument(parser)
    parser.add_argument("--kind", choices=KINDS, help="only runs of this kind")
    parser.add_argument("--status", choices=STATUSES, help="only runs in this status")
    parser.add_argument("--limit", type=int, default=20, help="newest N runs (default 20)")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from flows.run_record import list_runs

    if args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    rows = list_runs(Lake(args.lake), kind=args.kind, status=args.status, limit=args.limit)
    if args.format == "table":
        rows = [shown(row) for row in rows]
    table = pa.Table.from_pylist(rows) if rows else pa.table({"run_id": pa.array([], pa.string())})
    write_result(table, args.format, None, args.limit)
    return 0


def shown(row: dict) -> dict:
    """A row for the terminal: the start to the second, the duration as 1h02m05s."""
    out = {}
    for key, value in row.items():
        if key == "started" and value is not None:
            value = f"{value:%Y-%m-%d %H:%M:%S}"
        if key == "seconds":
            key, value = "duration", duration(value)
        out[key] = value
    return out


def duration(seconds: float | None) -> str | None:
    """12.3 -> '12s', 3725 -> '1h02m05s'."""
    if seconds is None:
        return None
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
