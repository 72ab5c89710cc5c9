"""`warmstart export SPLIT --to DIR`: Parquet/JSONL in HF/TRL columns, or verl/OpenRLHF/TRL layouts."""

import argparse
from pathlib import Path

from flows.cli import add_lake_argument
from flows.export import EXPORT_COLUMNS, FORMATS, export_split, formats_for
from schemas.lake import Lake

EPILOG = """example:
  warmstart export rl --to out/ --format verl   # out/rl.parquet for verl; prints how to point verl at it

verl, openrlhf and trl write the engine's dataset layout: the chat the policy saw during curation
as prompt, the verifier's inputs for the reward functions in curation/rewards.py.
formats by split kind: """


def _epilog() -> str:
    return EPILOG + "; ".join(f"{kind}: {', '.join(formats_for(kind))}" for kind in EXPORT_COLUMNS)


def register(sub) -> None:
    parser = sub.add_parser("export", help="export a split as Parquet/JSONL or for verl/OpenRLHF/TRL",
                            epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
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
