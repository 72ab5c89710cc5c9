"""`warmstart train sft|dpo|grpo --split NAME`: train on a curated split, record the run and metrics
(flows/training.py)."""

import argparse
import json
from pathlib import Path

import yaml

from flows.cli import add_lake_argument
from schemas.errors import ConfigError
from schemas.lake import Lake

TRAINERS = {"sft": "supervised fine-tuning on an sft split (messages)",
            "dpo": "direct preference optimisation on a preference split",
            "grpo": "group relative policy optimisation on an rl split (verifier rewards)"}
# flag dest -> config field, for flags whose name differs from the field
RENAMED = {"lr": "learning_rate", "schedule": "lr_schedule", "no_packing": "packing",
           "no_filter": "filter_zero_variance", "no_curriculum": "curriculum", "no_progress": "progress"}
NEGATED = {"no_packing", "no_filter", "no_curriculum", "no_progress"}
NOT_CONFIG = {"command", "trainer", "handler", "config", "lake", "debug", "overrides", "parent", "lora", "lora_r",
              "via_prefect", "api", "no_wait"}


def register(sub) -> None:
    parser = sub.add_parser("train", help="train SFT, DPO or GRPO on a curated split")
    trainers = parser.add_subparsers(dest="trainer", metavar="TRAINER", required=True)
    for name, text in TRAINERS.items():
        p = trainers.add_parser(name, help=text, description=text)
        _common_flags(p)
        {"sft": _sft_flags, "dpo": _dpo_flags, "grpo": _grpo_flags}[name](p)
        add_lake_argument(p)
        p.set_defaults(handler=handle)


def _common_flags(p) -> None:
    p.add_argument("--split", help="lake split to train on (see `warmstart splits`)")
    p.add_argument("--version", type=int, help="split version (default: latest)")
    p.add_argument("--data", help="exported Parquet/JSONL file or directory instead of --split")
    p.add_argument("--model", help="prepared model name or directory (default: smollm2-135m-instruct)")
    p.add_argument("--out", help="checkpoint directory (default: checkpoints/<trainer>-<run_id>)")
    p.add_argument("--config", help="YAML of options, e.g. configs/train_sft.yaml; flags override it")
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps")
    p.add_argument("--epochs", type=int, help="passes over the split (when --max-steps is unset)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default auto: cuda when available")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, help="bf16 autocast (default: on CUDA)")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--schedule", choices=["cosine", "linear", "constant"], help="decay after warm-up")
    p.add_argument("--warmup-steps", type=int, help="linear warm-up steps")
    p.add_argument("--batch-size", type=int, help="rows per micro-batch (GRPO: prompts)")
    p.add_argument("--grad-accum", type=int, help="micro-batches per optimizer step")
    p.add_argument("--max-length", type=int, help="tokens per sequence")
    p.add_argument("--seed", type=int, help="seed for order, sampling and adapters")
    p.add_argument("--gradient-checkpointing", action="store_true", default=None, help="save activation memory")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (needs peft); saved merged")
    p.add_argument("--lora-r", type=int, help="LoRA rank (implies --lora)")
    p.add_argument("--eval-split", help="split of the same kind to evaluate on")
    p.add_argument("--eval-interval", type=int, help="evaluate every N steps (default: at the end)")
    p.add_argument("--save-interval", type=int, help="save a resumable checkpoint every N steps")
    p.add_argument("--resume", action="store_true", default=None, help="continue from the last checkpoint")
    p.add_argument("--parent", help="parent run id (e.g. the loop round that started this run)")
    p.add_argument("--no-progress", action="store_true", default=None, help="no progress bar")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="any other config option, e.g. --set warmup_ratio=0.05 (repeatable)")
    p.add_argument("--via-prefect", action="store_true",
                   help="run as a `train` flow run on the Prefect server (a `schedule --serve` worker runs it)")
    p.add_argument("--api", help="Prefect API URL for --via-prefect (default: $PREFECT_API_URL or localhost:4200)")
    p.add_argument("--no-wait", action="store_true", help="with --via-prefect: submit and return at once")


def _sft_flags(p) -> None:
    p.add_argument("--no-packing", action="store_true", default=None, help="pad instead of packing")


def _dpo_flags(p) -> None:
    p.add_argument("--beta", type=float, help="DPO beta (default 0.1)")
    p.add_argument("--loss-type", choices=["sigmoid", "ipo"], help="DPO or IPO loss")


def _grpo_flags(p) -> None:
    p.add_argument("--num-generations", type=int, help="samples per prompt (G)")
    p.add_argument("--max-new-tokens", type=int, help="longest completion")
    p.add_argument("--temperature", type=float, help="sampling temperature")
    p.add_argument("--beta", type=float, help="KL weight to the reference (default 0)")
    p.add_argument("--loss-type", choices=["dapo", "grpo", "bnpo", "dr_grpo"], help="token aggregation")
    p.add_argument("--length-penalty", type=float, help="weight of the shorter-correct-answer reward")
    p.add_argument("--rollout-backend", choices=["auto", "transformers", "vllm"], help="sampler")
    p.add_argument("--no-filter", action="store_true", default=None, help="keep zero-variance groups")
    p.add_argument("--no-curriculum", action="store_true", default=None, help="ignore curriculum_stage")


def config_overrides(args) -> dict:
    """Config values given on the command line (unset flags left out)."""
    values = {}
    for dest, value in vars(args).items():
        if dest in NOT_CONFIG or value is None:
            continue
        values[RENAMED.get(dest, dest)] = (not value) if dest in NEGATED else value
    if args.lora or args.lora_r:
        values["lora"] = {"r": args.lora_r} if args.lora_r else {}
    for item in args.overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
        values[key.strip()] = yaml.safe_load(raw)
    return values


def handle(args) -> int:
    from trainers.config import load_config

    overrides = config_overrides(args)
    cfg = load_config(args.trainer, args.config, overrides)  # bad options fail here, before any submit
    if args.via_prefect:
        return submit_via_prefect(args, overrides)
    from flows.training import train_and_record

    result, recorded = train_and_record(args.trainer, cfg, Lake(args.lake), parent=args.parent)
    _print_summary(args.trainer, result, recorded)
    return 0


def submit_via_prefect(args, overrides: dict) -> int:
    """Start the run on the server's `train` deployment; wait for it unless --no-wait."""
    from flows.schedule import flow_run_url, submit_train
    from flows.server import resolve_api

    if not args.split:
        raise ConfigError("--via-prefect trains from a lake split: give --split")
    api = resolve_api(args.api)
    extra = ["--config", str(Path(args.config).resolve())] if args.config else []
    for key, value in overrides.items():
        if key not in ("split", "version"):
            extra += ["--set", f"{key}={json.dumps(value)}"]
    run = submit_train(args.trainer, args.split, args.lake, api, args=extra, version=args.version,
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
    print(f"{trainer} run {result.run_id}: {result.steps} steps in {result.seconds:.0f}s, "
          f"{result.tokens_per_s:,.0f} tokens/s, {shown}")
    print(f"checkpoint: {result.checkpoint}" + (" (run and metrics recorded in the lake)" if recorded else ""))
