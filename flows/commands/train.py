"""`warmstart train TRAINER --split NAME`: train on a curated split; the run and its metrics are
recorded in the lake (flows/training.py). A handful of everyday flags; every other option comes
from --config YAML or --set key.path=value (trainers/config.py and the trainer's recipe module)."""

import types
import typing
from pathlib import Path

from flows.cli import add_command, add_lake_argument, add_set_argument
from schemas.errors import ConfigError
from schemas.lake import Lake

# The everyday flags, each one config field (its help is the field's description).
CONFIG_FLAGS = {"--split": "split", "--version": "version", "--data": "data", "--model": "model", "--out": "out",
                "--max-steps": "max_steps", "--device": "device", "--lr": "learning_rate",
                "--batch-size": "batch_size", "--seed": "seed", "--resume": "resume"}


def register(sub) -> None:
    from trainers.registry import TRAINERS

    parser = add_command(sub, "train", f"train a registered trainer ({', '.join(TRAINERS)}) on a curated split",
                         [trainer_examples(spec)[0] for spec in TRAINERS.values()])
    trainers = parser.add_subparsers(dest="trainer", metavar="TRAINER", required=True)
    for spec in TRAINERS.values():
        p = add_command(trainers, spec.name, spec.help, trainer_examples(spec))
        add_train_arguments(p)
        add_lake_argument(p)
        p.set_defaults(handler=handle)


def trainer_examples(spec) -> list[str]:
    """Example command lines for one registered trainer."""
    name, kind = spec.name, spec.split_kind
    lines = [f"warmstart train {name} --split {kind} --max-steps 20          # a short run on the lake split",
             f"warmstart train {name} --config configs/train_{name}.yaml --lora --set lora.r=8"]
    if spec.example:
        lines.append(f"warmstart train {name} --split {kind} {spec.example}")
    return lines + [f"warmstart train {name} --data out/{kind}.parquet --set eval_interval=10 --set progress=false"]


def add_train_arguments(p) -> None:
    """The everyday config flags, --lora, --config, --set, --parent and the --via-prefect group."""
    from trainers.config import TrainConfig

    for flag, field in CONFIG_FLAGS.items():
        info = TrainConfig.model_fields[field]
        options = flag_options(info.annotation)
        if "action" not in options:
            options["metavar"] = flag[2:].upper().replace("-", "_")
        p.add_argument(flag, dest=field, help=info.description, **options)
    p.add_argument("--lora", action="store_true",
                   help=f"{TrainConfig.model_fields['lora'].description} (its options: --set lora.r=8 ...)")
    p.add_argument("--config", help="YAML of options, e.g. configs/train_sft.yaml; flags and --set override it")
    add_set_argument(p, "warmup_ratio=0.05")
    p.add_argument("--parent", help="parent run id (e.g. the loop round that started this run)")
    p.add_argument("--via-prefect", action="store_true",
                   help="run as a `train` flow run on the Prefect server (a `schedule --serve` worker runs it)")
    p.add_argument("--api", help="Prefect API URL for --via-prefect (default: $PREFECT_API_URL or localhost:4200)")
    p.add_argument("--no-wait", action="store_true", help="with --via-prefect: submit and return at once")


def flag_options(annotation) -> dict:
    """argparse options for a config field's type: its choices, a converter, or a switch."""
    kinds = [a for a in typing.get_args(annotation) if a is not type(None)] \
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union else [annotation]
    kind = kinds[0]
    if kind is bool:
        return {"action": "store_true", "default": None}
    if typing.get_origin(kind) is typing.Literal:
        return {"choices": typing.get_args(kind)}
    return {"type": kind}


def config_values(args) -> dict:
    """Config values given by the everyday flags (unset ones left out)."""
    values = {field: getattr(args, field) for field in CONFIG_FLAGS.values() if getattr(args, field) is not None}
    if args.lora:
        values["lora"] = {}  # merged into the YAML's lora options, if any
    return values


def handle(args) -> int:
    from trainers.config import load_config

    cfg = load_config(args.trainer, args.config, config_values(args), args.overrides)  # fails before any submit
    if args.via_prefect:
        return submit_via_prefect(args)
    from flows.training import train_split

    for result, recorded in train_split(args.trainer, cfg, Lake(args.lake), parent=args.parent):
        _print_summary(args.trainer, result, recorded)
    return 0


def forwarded_args(args) -> list[str]:
    """This command line's config flags, --lora and --set items, for the worker to parse again
    (--split and --version travel as flow parameters)."""
    out = ["--config", str(Path(args.config).resolve())] if args.config else []
    for flag, field in CONFIG_FLAGS.items():
        value = getattr(args, field)
        if value is not None and field not in ("split", "version"):
            out += [flag] if value is True else [flag, str(value)]
    out += ["--lora"] if args.lora else []
    for item in args.overrides:
        out += ["--set", item]
    return out


def submit_via_prefect(args) -> int:
    """Start the run on the server's `train` deployment; wait for it unless --no-wait."""
    from flows.schedule import flow_run_url, submit_train
    from flows.server import resolve_api

    if not args.split:
        raise ConfigError("--via-prefect trains from a lake split: give --split")
    api = resolve_api(args.api)
    run = submit_train(args.trainer, args.split, args.lake, api, args=forwarded_args(args), version=args.version,
                       wait_s=None if args.no_wait else 24 * 3600)
    print(f"flow run {run.name}: {flow_run_url(api, run.id)}")
    if args.no_wait:
        print("submitted; a `warmstart schedule --serve` worker runs it")
        return 0
    print(f"state: {run.state.name}")
    return 0 if run.state.is_completed() else 1


def _print_summary(trainer: str, result, recorded: bool) -> None:
    shown = {k: round(v, 4) for k, v in result.metrics.items()
             if k in ("loss", "eval/loss", "rewards/accuracies", "reward", "pass_rate", "eval/pass_rate")}
    print(f"{trainer} run {result.run_id} on {result.lineage.get('split')}: {result.steps} steps in {result.seconds:.0f}s, "
          f"{result.tokens_per_s:,.0f} tokens/s, {shown}")
    print(f"checkpoint: {result.checkpoint}" + (" (run and metrics recorded in the lake)" if recorded else ""))
