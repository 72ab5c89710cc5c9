"""`warmstart model prepare`: convert the bundled SmolLM2 GGUF to safetensors, once."""

from curation.models import BUNDLED, BUNDLED_DTYPE, prepare_bundled
from flows.cli_args import add_command, runs_engines
from schemas import terminal

EXAMPLES = ["warmstart model prepare           # once, before the first run",
            "warmstart model prepare --force   # convert again"]


def register(sub) -> None:
    parser = add_command(sub, "model", "prepare the bundled model", EXAMPLES)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    prepare = add_command(actions, "prepare", f"convert the bundled {BUNDLED} to safetensors (idempotent)",
                          EXAMPLES)
    prepare.add_argument("--force", action="store_true", help="convert again even if already prepared")
    runs_engines(prepare)
    prepare.set_defaults(handler=handle)


def handle(args) -> int:
    path = prepare_bundled(force=args.force)
    terminal.echo(f"{BUNDLED} ready at {path} ({BUNDLED_DTYPE})")
    return 0
