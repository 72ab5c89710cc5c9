"""`warmstart splits`: list every split version with its row count and run."""

from flows.cli import add_command, add_lake_argument
from flows.commands.sql import write_result
from schemas.lake import Lake
from schemas.split_registry import list_splits

EXAMPLES = ["warmstart splits                    # name, version (lake snapshot), kind, rows",
            "warmstart splits --format json --lake runs/lake"]


def register(sub) -> None:
    parser = add_command(sub, "splits", "list splits with versions and row counts", EXAMPLES)
    add_lake_argument(parser)
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    write_result(list_splits(Lake(args.lake)), args.format, None, 1000)
    return 0
