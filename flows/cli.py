"""The `warmstart` command line: a thin layer; each command lives in flows/commands/<name>.py.

Every command module exposes `register(subparsers)`, which adds its parser with `add_command`
(so its --help ends with examples) and sets `handler=`; errors are typed `WarmstartError`s,
rendered here once as one line. A command marked with `runs_engines` gets a run id
(`args.run_id`), its engine output goes to runs/<run_id>/engine.log (flows/engine_log.py) unless
--verbose, and, in the `warmstart` process itself, a guard that ends its child processes with it
(flows/process_guard.py).
"""

import argparse
import importlib
import os
import sys

from flows.cli_args import format_examples
from schemas import terminal
from schemas.errors import WarmstartError
from schemas.ids import new_run_id

COMMANDS = ["model", "run", "sql", "splits", "export", "train", "loop", "runs", "server", "schedule", "report"]
EXAMPLES = ["warmstart run configs/demo.yaml                  # curate prompts into the lake, cut splits",
            "warmstart train sft --split sft --max-steps 20   # train on a split",
            "warmstart runs                                   # every run: status, duration, what it made",
            "warmstart run configs/demo.yaml --verbose        # engine output on the terminal, not in the log",
            "warmstart COMMAND --help                         # each command's options and examples"]
# Flags every command takes, before or after its name.
GLOBAL_FLAGS = {"--debug": "show tracebacks on errors",
                "--verbose": "show engine output (vLLM, torch, Prefect, ...) on the terminal instead of "
                             "runs/<run_id>/engine.log"}


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one sub-command per module in flows/commands/."""
    parser = argparse.ArgumentParser(prog="warmstart", description=__doc__.splitlines()[0],
                                     epilog=format_examples(EXAMPLES),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, help in GLOBAL_FLAGS.items():
        parser.add_argument(flag, action="store_true", help=help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"flows.commands.{name}").register(sub)
    for command in sub.choices.values():
        add_global_flags(command)
    return parser


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    """The global flags also after a command and its sub-commands (`warmstart train sft --verbose`);
    SUPPRESS keeps the top-level value when absent."""
    for flag, help in GLOBAL_FLAGS.items():
        parser.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=help)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                add_global_flags(child)


def main(argv: list[str] | None = None) -> int:
    """Parse, dispatch, and turn errors into one clear line and an exit code.

    argv None means this process is the `warmstart` command itself: then a command that runs
    engines also starts the guard that ends its child processes when it ends, even by kill -9."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # Prefect gives its ephemeral API 20 s to start; beside a loading vLLM engine on 2 cores it can take longer
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    log = None
    try:
        if not getattr(args, "engines", False):
            return int(args.handler(args) or 0)
        from flows.engine_log import engine_output
        from flows.process_guard import start_guard

        if argv is None:
            start_guard()
        args.run_id = new_run_id()
        with engine_output(args.run_id, verbose=args.verbose) as log:
            return int(args.handler(args) or 0)
    except WarmstartError as exc:
        if args.debug:
            raise
        terminal.echo(f"error: {exc}{_see(log)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        terminal.echo(f"interrupted{_see(log)}", err=True)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        hint = f"; traceback in {log}" if log is not None and log.exists() else "; --debug shows the traceback"
        message = (str(exc).strip().splitlines() or [""])[0]
        terminal.echo(f"error: unexpected {type(exc).__name__}: {message}{hint}", err=True)
        return 1


def _see(log) -> str:
    """Where to read more, when an engine log was written."""
    return f" (engine log: {log})" if log is not None and log.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
