"""`warmstart model prepare`: convert the bundled SmolLM2 GGUF to safetensors, once."""

from curation.models import BUNDLED, prepare_bundled


def register(sub) -> None:
    parser = sub.add_parser("model", help="prepare the bundled model")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    prepare = actions.add_parser("prepare", help=f"convert the bundled {BUNDLED} to safetensors (idempotent)")
    prepare.add_argument("--force", action="store_true", help="convert again even if already prepared")
    prepare.set_defaults(handler=handle)


def handle(args) -> int:
    path = prepare_bundled(force=args.force)
    print(f"{BUNDLED} ready at {path}")
    return 0
