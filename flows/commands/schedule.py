"""`warmstart schedule`: register scheduled curation or triggered training on a Prefect server,
list or delete those deployments, and `--serve` the worker that runs them."""

from flows.cli import add_command, add_set_argument
from schemas.errors import ConfigError
from trainers.registry import TRAINERS

EXAMPLES = [
    'warmstart schedule configs/demo.yaml --cron "0 3 * * *"      # curate every night at 03:00',
    "warmstart schedule --train sft --split sft --on-new-version  # train on each new split version",
    'warmstart schedule --train dpo --split preference --train-args "--max-steps 50 --set beta=0.5"',
    "warmstart schedule --serve                                   # the worker: runs what is due",
    "warmstart schedule --list",
    "warmstart schedule --delete demo"]


def register(sub) -> None:
    parser = add_command(sub, "schedule", "schedule curation / training on a Prefect server; run the worker",
                         EXAMPLES, description="Register deployments on a Prefect server (`warmstart server`) "
                         "and run the worker that executes them.")
    parser.add_argument("config", nargs="?", help="curate YAML config to run on a schedule")
    parser.add_argument("--cron", help='cron schedule, e.g. "0 3 * * *" (03:00 every day)')
    parser.add_argument("--interval", type=float, help="run every N seconds")
    parser.add_argument("--timezone", help="time zone of the cron schedule (default UTC)")
    add_set_argument(parser, "sampling.k=8")
    parser.add_argument("--train", choices=list(TRAINERS), help="register a training deployment")
    parser.add_argument("--split", help="split the training deployment trains on")
    parser.add_argument("--on-new-version", action="store_true",
                        help="start a training run whenever a new version of --split lands in the lake")
    parser.add_argument("--train-args", default="", help='extra `warmstart train` flags, e.g. "--max-steps 50"')
    parser.add_argument("--lake", default="data/lake", help="lake the training deployment reads")
    parser.add_argument("--name", help="deployment name (default: config stem, or TRAINER-SPLIT)")
    parser.add_argument("--list", action="store_true", help="list warmstart deployments")
    parser.add_argument("--delete", metavar="NAME", help="delete a deployment (and its scheduled runs)")
    parser.add_argument("--serve", action="store_true", help="run the worker: scheduled and triggered runs")
    parser.add_argument("--poll", type=float, default=10.0, help="seconds between worker / trigger polls")
    parser.add_argument("--api", help="Prefect API URL (default: $PREFECT_API_URL or http://127.0.0.1:4200/api)")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from flows import schedule
    from flows.server import resolve_api

    api = resolve_api(args.api)
    if args.list:
        return show(schedule.list_deployments(api))
    if args.delete:
        print(f"deleted {schedule.delete_deployment(args.delete, api)}")
        return 0
    if args.serve:
        print(f"worker on pool '{schedule.POOL}' at {api}; Ctrl-C stops it", flush=True)
        try:
            schedule.serve(api, poll_s=args.poll, log=lambda text: print(text, flush=True))
        except KeyboardInterrupt:
            pass
        return 0
    if args.train:
        if not args.split:
            raise ConfigError("--train needs --split NAME")
        name = schedule.register_train(args.train, args.split, args.lake, api, args=args.train_args,
                                       name=args.name, on_new_version=args.on_new_version)
        when = f"on each new version of split '{args.split}'" if args.on_new_version else "on demand"
        print(f"registered {name}: {when}; runs need a worker (`warmstart schedule --serve`)")
        return 0
    if not args.config:
        raise ConfigError("give a CONFIG to schedule, or one of --train, --list, --delete, --serve")
    name = schedule.register_curate(args.config, api, overrides=args.overrides, cron=args.cron,
                                    interval=args.interval, name=args.name, timezone=args.timezone)
    print(f"registered {name}: {args.cron or f'every {args.interval:g} s'}; "
          "runs need a worker (`warmstart schedule --serve`)")
    return 0


def show(rows: list[dict]) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="warmstart deployments")
    table.add_column("name", no_wrap=True)
    for column in ("runs", "paused", "parameters"):
        table.add_column(column)
    for row in rows:
        params = ", ".join(f"{k}={v}" for k, v in row["parameters"].items())
        table.add_row(row["name"], row["runs"], "yes" if row["paused"] else "", params)
    Console().print(table)
    return 0
