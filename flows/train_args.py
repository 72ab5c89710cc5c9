"""The `warmstart train` flags, declared once: the command parses them, `--via-prefect` forwards
them, and the deployed train flow (flows/deployed.py) parses them again on the worker.

    options = parse_train_flags("sft", train_flags("sft", None, "data/lake", ["--max-steps", "5"]))
    cfg = train_config("sft", options)
"""

import argparse
import shlex
import types
import typing
from pathlib import Path

from flows.cli_args import add_set_argument
from schemas.errors import ConfigError

# The everyday flags, each one config field (its help is the field's description).
CONFIG_FLAGS = {"--split": "split", "--version": "version", "--data": "data", "--model": "model", "--out": "out",
                "--max-steps": "max_steps", "--device": "device", "--lr": "learning_rate",
                "--batch-size": "batch_size", "--seed": "seed", "--resume": "resume", "--gpus": "gpus",
                "--gradient-checkpointing": "gradient_checkpointing", "--max-tokens-per-batch": "max_tokens_per_batch"}


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The everyday config flags, --lora, --config, --set and --parent."""
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


def train_config(trainer: str, args):
    """The trainer's config from parsed flags: --config YAML, then the flags, then --set."""
    from trainers.config import load_config

    return load_config(trainer, args.config, config_values(args), args.overrides)


def forwarded_args(args) -> list[str]:
    """A command line's config flags, --lora and --set items, for the worker to parse again
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


def train_flags(split: str, version: int | None, lake: str, args: list[str]) -> list[str]:
    """The train flags the deployed flow runs with (also used to check arguments early)."""
    flags = ["--split", split, "--lake", lake, *args]
    return flags + (["--version", str(version)] if version is not None else [])


def parse_train_flags(trainer: str, flags: list[str]) -> argparse.Namespace:
    """Parse train flags for `trainer` (with `trainer` and `lake` set); a ConfigError (not SystemExit) when wrong."""
    parser = argparse.ArgumentParser(prog=f"warmstart train {trainer}", add_help=False, exit_on_error=False)
    add_train_arguments(parser)
    parser.add_argument("--lake", required=True)
    command = f"warmstart train {trainer} {shlex.join(flags)}"
    try:
        args = parser.parse_args(flags)
    except SystemExit:
        raise ConfigError(f"bad train arguments: {command}") from None
    except Exception as exc:  # argparse.ArgumentError and friends
        raise ConfigError(f"bad train arguments ({exc}): {command}") from None
    args.trainer = trainer
    return args
