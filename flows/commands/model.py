"""`warmstart model prepare`: convert the bundled SmolLM2 GGUF to safetensors, once."""

from curation.models import BUNDLED, prepare_bundled
from flows.cli import add_command

EXAMPLES = ["warmstart model prepare           # once, before the first run",
            "warmstart model prepare --force   # convert again"]


def register(sub) -> None:
    parser = add_command(sub, "model", "prepare the bundled model", EXAMPLES)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    prepare = add_command(actions, "prepare", f"convert the bundled {BUNDLED} to safetensors (idempotent)",
                          EXAMPLES)
    prepare.add_argument("--force", action="store_true", help="convert again even if already prepared")
    prepare.set_defaults(handler=handle)


def handle(args) -> int:
    path = prepare_bundled(force=args.force)
    print(f"{BUNDLED} ready at {path}")
    return 0
