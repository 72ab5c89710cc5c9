"""`warmstart sql "SELECT ..."`: query any lake table; read-only unless --write."""

import json
import sys

import pyarrow as pa

from flows.cli import add_command, add_lake_argument
from schemas.errors import ConfigError
from schemas.lake import Lake

EXAMPLES = ['warmstart sql "SELECT task, avg(pass_rate) FROM prompt_stats JOIN prompts USING (prompt_id) GROUP BY task"',
            'warmstart sql --version 3 "SELECT count(*) FROM generations"       # time travel to snapshot 3',
            'warmstart sql "SELECT * FROM train_metrics" --format parquet --out metrics.parquet']


def register(sub) -> None:
    parser = add_command(sub, "sql", "run SQL against the lake (read-only unless --write)", EXAMPLES)
    parser.add_argument("query", help="SQL text; tables: prompts, generations, verdicts, prompt_stats, ...")
    add_lake_argument(parser)
    parser.add_argument("--version", type=int, help="read the lake as of this snapshot (time travel)")
    parser.add_argument("--write", action="store_true", help="allow statements that change the lake")
    parser.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    parser.add_argument("--out", help="write the result to this file instead of the terminal")
    parser.add_argument("--max-rows", type=int, default=50, help="rows shown in table format")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    if args.write and args.version is not None:
        raise ConfigError("--write and --version cannot be combined: past snapshots are read-only")
    if args.format == "parquet" and not args.out:
        raise ConfigError("--format parquet needs --out FILE")
    lake = Lake(args.lake)
    if args.write:  # a writer first closes runs whose process died (flows/run_record.py)
        from flows.run_record import close_dead_runs

        close_dead_runs(lake)
    result = lake.query(args.query, version=args.version, write=args.write)
    write_result(result, args.format, args.out, args.max_rows)
    return 0


def write_result(table: pa.Table, fmt: str, out: str | None, max_rows: int) -> None:
    """Render a result as a terminal table, CSV, JSON lines or Parquet."""
    if fmt == "parquet":
        import pyarrow.parquet as pq
        pq.write_table(table, out)
        return
    if fmt == "csv":
        import pyarrow.csv as pcsv
        sink = out or sys.stdout.buffer
        pcsv.write_csv(table, sink)
        return
    handle = open(out, "w", encoding="utf-8") if out else sys.stdout
    try:
        if fmt == "json":
            for row in table.to_pylist():
                handle.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
        else:
            _print_table(table, max_rows, handle)
    finally:
        if out:
            handle.close()


def _print_table(table: pa.Table, max_rows: int, handle) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(show_lines=False)
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        view.add_row(*[_cell(v) for v in row.values()])
    console = Console(file=handle, width=None if handle is sys.stdout else 200)
    console.print(view)
    if table.num_rows > max_rows:
        console.print(f"... {table.num_rows} rows, {max_rows} shown (--max-rows, or --format csv)")
    else:
        console.print(f"{table.num_rows} row(s)")


def _cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."
