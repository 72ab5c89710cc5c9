"""`warmstart splits`: list every split version with its row count and run."""

from flows.cli import add_lake_argument
from flows.commands.sql import write_result
from schemas.lake import Lake
from schemas.split_registry import list_splits


def register(sub) -> None:
    parser = sub.add_parser("splits", help="list splits with versions and row counts")
    add_lake_argument(parser)
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    write_result(list_splits(Lake(args.lake)), args.format, None, 1000)
    return 0
