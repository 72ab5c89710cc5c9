"""`warmstart export SPLIT --to DIR`: Parquet or JSONL in HF/TRL columns."""

from pathlib import Path

from flows.cli import add_command, add_lake_argument
from flows.export import export_split
from schemas.lake import Lake

EXAMPLES = ["warmstart export sft --to out/                       # out/sft.parquet (messages)",
            "warmstart export preference --to out/ --format jsonl --version 3"]


def register(sub) -> None:
    parser = add_command(sub, "export", "export a split as Parquet/JSONL in HF/TRL columns", EXAMPLES)
    parser.add_argument("split", help="split name (see `warmstart splits`)")
    parser.add_argument("--to", required=True, help="output directory")
    parser.add_argument("--version", type=int, help="split version (default: latest)")
    parser.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    add_lake_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    path = export_split(Lake(args.lake), args.split, Path(args.to), version=args.version, fmt=args.format)
    print(f"wrote {path}")
    return 0
