"""Argument helpers every `warmstart` command shares (flows/cli.py imports the command modules;
they and the library import these, never flows/cli.py)."""

import argparse
import os


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


def runs_engines(parser: argparse.ArgumentParser) -> None:
    """Mark a command that runs engines (vLLM, torch, a Prefect server): its engine output goes to
    runs/<run_id>/engine.log (the terminal with --verbose) and its child processes end with it."""
    parser.set_defaults(engines=True)
