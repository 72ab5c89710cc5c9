"""`warmstart export SPLIT --to DIR`: Parquet/JSONL in HF/TRL columns, or verl/OpenRLHF/TRL layouts."""

from pathlib import Path

from flows.cli import add_command, add_lake_argument
from flows.export import EXPORT_COLUMNS, FORMATS, export_split, formats_for
from schemas.lake import Lake

EXAMPLES = ["warmstart export sft --to out/                       # out/sft.parquet (messages)",
            "warmstart export preference --to out/ --format jsonl --version 3",
            "warmstart export rl --to out/ --format verl          # out/rl.parquet for verl; prints how to use it"]
NOTE = ("verl, openrlhf and trl write the engine's dataset layout: the chat the policy saw during curation\n"
        "as prompt, the verifier's inputs for the reward functions in curation/rewards.py.")


def register(sub) -> None:
    kinds = "; ".join(f"{kind}: {', '.join(formats_for(kind))}" for kind in EXPORT_COLUMNS)
    parser = add_command(sub, "export", "export a split as Parquet/JSONL or for verl/OpenRLHF/TRL", EXAMPLES,
                         description=f"{NOTE}\nformats by split kind: {kinds}")
    parser.add_argument("split", help="split name (see `warmstart splits`)")
    parser.add_argument("--to", required=True, help="output directory")
    parser.add_argument("--version", type=int, help="split version (default: latest)")
    parser.add_argument("--format", default="parquet", metavar="|".join(FORMATS),
                        help="file layout (default: parquet)")
    add_lake_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    exported = export_split(Lake(args.lake), args.split, Path(args.to), version=args.version, fmt=args.format)
    print(f"wrote {exported.path}")
    if exported.usage:
        print(exported.usage)
    return 0
