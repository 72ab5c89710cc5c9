"""`warmstart loop CONFIG`: the closed loop, curate → train → evaluate → mine, round after round."""

from pathlib import Path

from flows.cli import add_command, add_lake_argument, add_set_argument

EXAMPLES = [
    "warmstart loop configs/loop.yaml                 # run, or continue at the next unfinished round",
    "warmstart loop configs/loop.yaml --rounds 5      # two more rounds after a finished 3-round loop",
    "warmstart loop configs/loop.yaml --set train.later=[grpo] --set eval.max_tokens=64",
    "warmstart sql \"SELECT round, checkpoint, eval_pass_rate FROM loop_rounds WHERE loop_id = 'demo-loop'\""]


def register(sub) -> None:
    parser = add_command(sub, "loop", "curate, train, evaluate and mine, round after round", EXAMPLES,
                         description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("config", help="loop YAML, e.g. configs/loop.yaml")
    parser.add_argument("--rounds", type=int, help="run up to this many rounds (overrides the config)")
    add_set_argument(parser, "eval.max_tokens=64")
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
