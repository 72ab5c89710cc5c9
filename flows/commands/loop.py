"""`warmstart loop CONFIG`: the closed loop, curate → train → evaluate → mine, round after round."""

from pathlib import Path

from flows.cli import add_lake_argument

EXAMPLES = """examples:
  warmstart loop configs/loop.yaml                 # run, or continue at the next unfinished round
  warmstart loop configs/loop.yaml --rounds 5      # two more rounds after a finished 3-round loop
  warmstart sql "SELECT round, checkpoint, eval_pass_rate FROM loop_rounds WHERE loop_id = 'demo-loop'"
"""


def register(sub) -> None:
    import argparse

    parser = sub.add_parser("loop", help="curate, train, evaluate and mine, round after round",
                            description=__doc__.splitlines()[0].split(": ", 1)[1], epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="loop YAML, e.g. configs/loop.yaml")
    parser.add_argument("--rounds", type=int, help="run up to this many rounds (overrides the config)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a loop config key, e.g. --set eval.max_tokens=64 (repeatable)")
    add_lake_argument(parser)
    parser.set_defaults(handler=handle, lake=None)


def handle(args) -> int:
    from rich.table import Table

    from flows.closed_loop import run_loop
    from flows.closed_loop_config import load_loop_config
    from flows.progress import console

    overrides = list(args.overrides) + ([f"lake={args.lake}"] if args.lake else [])
    overrides += [f"rounds={args.rounds}"] if args.rounds is not None else []
    cfg = load_loop_config(args.config, overrides)
    rows = run_loop(cfg, log=lambda text: console.print(text))
    table = Table(title=f"loop {cfg.name}")
    for column in ("round", "prompts", "mined", "trained", "eval before", "eval after", "checkpoint"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["round"]), str(row["n_prompts"]), str(row["n_mined"]), row["train_run_ids"] or "-",
                      _rate(row["eval_pass_rate_in"]), _rate(row["eval_pass_rate"]), Path(row["checkpoint"]).name)
    console.print(table)
    return 0


def _rate(value) -> str:
    return "-" if value is None else f"{value:.1%}"
