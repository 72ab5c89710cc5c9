"""`warmstart train TRAINER --split NAME`: train on a curated split; the run and its metrics are
recorded in the lake (flows/training.py). A handful of everyday flags; every other option comes
from --config YAML or --set key.path=value (trainers/config.py and the trainer's recipe module)."""

from flows.cli_args import add_command, add_lake_argument, runs_engines
from flows.train_args import add_train_arguments, forwarded_args, train_config
from schemas import terminal
from schemas.errors import ConfigError
from schemas.lake import Lake


def register(sub) -> None:
    from trainers.registry import TRAINERS

    parser = add_command(sub, "train", f"train a registered trainer ({', '.join(TRAINERS)}) on a curated split",
                         [trainer_examples(spec)[0] for spec in TRAINERS.values()])
    trainers = parser.add_subparsers(dest="trainer", metavar="TRAINER", required=True)
    for spec in TRAINERS.values():
        p = add_command(trainers, spec.name, spec.help, trainer_examples(spec))
        add_command_arguments(p)
        runs_engines(p)
        p.set_defaults(handler=handle)


def trainer_examples(spec) -> list[str]:
    """Example command lines for one registered trainer."""
    name, kind = spec.name, spec.split_kind
    lines = [f"warmstart train {name} --split {kind} --max-steps 20          # a short run on the lake split",
             f"warmstart train {name} --config configs/train_{name}.yaml --lora --set lora.r=8"]
    if spec.example:
        lines.append(f"warmstart train {name} --split {kind} {spec.example}")
    return lines + [f"warmstart train {name} --data out/{kind}.parquet --set eval_interval=10 --set progress=false"]


def add_command_arguments(p) -> None:
    """The train flags (flows/train_args.py), --lake, and the --via-prefect group."""
    add_train_arguments(p)
    add_lake_argument(p)
    p.add_argument("--via-prefect", action="store_true",
                   help="run as a `train` flow run on the Prefect server (a `schedule --serve` worker runs it)")
    p.add_argument("--api", help="Prefect API URL for --via-prefect (default: $PREFECT_API_URL or localhost:4200)")
    p.add_argument("--no-wait", action="store_true", help="with --via-prefect: submit and return at once")


def handle(args) -> int:
    from trainers.parallel import launched_by_torchrun

    if launched_by_torchrun():  # every rank would open the lake: one process must own it
        raise ConfigError("`warmstart train` under torchrun: use `warmstart train --gpus N` (it starts torchrun) "
                          "or `torchrun -m trainers.launch --trainer NAME --data FILE`")
    cfg = train_config(args.trainer, args)  # fails before any submit
    if args.via_prefect:
        return submit_via_prefect(args)
    from flows.training import train_split

    for result, recorded in train_split(args.trainer, cfg, Lake(args.lake), parent=args.parent,
                                        run_id=args.run_id):
        _print_summary(args.trainer, result, recorded)
    return 0


def submit_via_prefect(args) -> int:
    """Start the run on the server's `train` deployment; wait for it unless --no-wait."""
    from flows.schedule import flow_run_url, submit_train
    from flows.server import resolve_api

    if not args.split:
        raise ConfigError("--via-prefect trains from a lake split: give --split")
    api = resolve_api(args.api)
    run = submit_train(args.trainer, args.split, args.lake, api, args=forwarded_args(args), version=args.version,
                       wait_s=None if args.no_wait else 24 * 3600)
    terminal.echo(f"flow run {run.name}: {flow_run_url(api, run.id)}")
    if args.no_wait:
        terminal.echo("submitted; a `warmstart schedule --serve` worker runs it")
        return 0
    terminal.echo(f"state: {run.state.name}")
    return 0 if run.state.is_completed() else 1


def _print_summary(trainer: str, result, recorded: bool) -> None:
    shown = {k: round(v, 4) for k, v in result.metrics.items()
             if k in ("loss", "eval/loss", "rewards/accuracies", "reward", "pass_rate", "eval/pass_rate", "mfu",
                      "time/rollout", "time/update")}
    terminal.echo(f"{trainer} run {result.run_id} on {result.lineage.get('split')}: {result.steps} steps in "
                  f"{result.seconds:.0f}s, {result.tokens_per_s:,.0f} tokens/s, {shown}")
    terminal.echo(f"memory: {result.memory}")
    recorded_note = " (run and metrics recorded in the lake)" if recorded else ""
    terminal.echo(f"checkpoint: {result.checkpoint}{recorded_note}")
