"""The `warmstart` command line: a thin layer; each command lives in flows/commands/<name>.py.

Every command module exposes `register(subparsers)`, which adds its parser and sets
`handler=`; errors are typed `WarmstartError`s, rendered here once as one line.
"""

import argparse
import importlib
import os
import sys

from schemas.errors import WarmstartError

COMMANDS = ["model", "run", "sql", "splits", "export", "train", "loop", "server", "schedule", "report"]


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one sub-command per module in flows/commands/."""
    parser = argparse.ArgumentParser(prog="warmstart", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"flows.commands.{name}").register(sub)
    for command in sub.choices.values():
        # --debug also after the command; SUPPRESS keeps the top-level value when absent.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show tracebacks on errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, dispatch, and turn warmstart errors into one clear line and an exit code."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # progress bars, not engine chatter
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except WarmstartError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def add_lake_argument(parser: argparse.ArgumentParser) -> None:
    """Every lake-reading command takes --lake (default data/lake)."""
    parser.add_argument("--lake", default=os.environ.get("WARMSTART_LAKE", "data/lake"),
                        help="lake directory or postgres:// URL (default: data/lake)")


if __name__ == "__main__":
    sys.exit(main())
