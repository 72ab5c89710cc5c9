"""The `warmstart` command line: a thin layer; each command lives in flows/commands/<name>.py.

Every command module exposes `register(subparsers)`, which adds its parser with `add_command`
(so its --help ends with examples) and sets `handler=`; errors are typed `WarmstartError`s,
rendered here once as one line.
"""

import argparse
import importlib
import os
import sys

from schemas.errors import WarmstartError

COMMANDS = ["model", "run", "sql", "splits", "export", "train", "loop", "runs", "server", "schedule", "report"]
EXAMPLES = ["warmstart run configs/demo.yaml                  # curate prompts into the lake, cut splits",
            "warmstart train sft --split sft --max-steps 20   # train on a split",
            "warmstart runs                                   # every run: status, duration, what it made",
            "warmstart COMMAND --help                         # each command's options and examples"]


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one sub-command per module in flows/commands/."""
    parser = argparse.ArgumentParser(prog="warmstart", description=__doc__.splitlines()[0],
                                     epilog=format_examples(EXAMPLES),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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


def add_command(sub, name: str, help: str, examples: list[str], *, description: str | None = None,
                **options) -> argparse.ArgumentParser:
    """A sub-command parser whose --help ends with `examples` (one `warmstart ...` line each,
    optionally followed by a `# why` comment)."""
    return sub.add_parser(name, help=help, description=description or help, epilog=format_examples(examples),
                          formatter_class=argparse.RawDescriptionHelpFormatter, **options)


def format_examples(examples: list[str]) -> str:
    """The epilog block of a command's --help."""
    return "examples:\n" + "\n".join(f"  {line}" for line in examples)


def add_set_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """`--set key.path=value` (repeatable): the one way every command overrides a config key."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help=f"override a config key (value parsed as YAML), e.g. --set {example}; repeatable")


def add_lake_argument(parser: argparse.ArgumentParser) -> None:
    """Every lake-reading command takes --lake (default data/lake)."""
    parser.add_argument("--lake", default=os.environ.get("WARMSTART_LAKE", "data/lake"),
                        help="lake directory or postgres:// URL (default: data/lake)")


if __name__ == "__main__":
    sys.exit(main())
