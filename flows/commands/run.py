"""`warmstart run CONFIG`: curate prompts into the lake and cut splits."""

from flows.cli import add_lake_argument


def register(sub) -> None:
    parser = sub.add_parser("run", help="run the curate flow on a YAML config")
    parser.add_argument("config", help="YAML config, e.g. configs/demo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set sampling.k=8 (repeatable)")
    add_lake_argument(parser)
    parser.set_defaults(handler=handle, lake=None)


def handle(args) -> int:
    from flows.config import load_config
    from flows.curate import run_curation
    from flows.progress import console

    overrides = list(args.overrides) + ([f"lake={args.lake}"] if args.lake else [])
    cfg = load_config(args.config, overrides)
    summary = run_curation(cfg)
    for table in summary.tables():
        console.print(table)
    return 0
