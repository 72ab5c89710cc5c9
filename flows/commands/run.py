"""`warmstart run CONFIG`: curate prompts into the lake and cut splits."""

from flows.cli import add_command, add_lake_argument, add_set_argument

EXAMPLES = ["warmstart run configs/demo.yaml                              # curate into data/lake",
            "warmstart run configs/demo.yaml --set sampling.k=8 --set backend=transformers",
            "warmstart run configs/demo.yaml --lake postgres://user@host/db   # a shared lake"]


def register(sub) -> None:
    parser = add_command(sub, "run", "run the curate flow on a YAML config", EXAMPLES)
    parser.add_argument("config", help="YAML config, e.g. configs/demo.yaml")
    add_set_argument(parser, "sampling.k=8")
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
