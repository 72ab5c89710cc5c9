"""Export a split in the column conventions of HF datasets / TRL."""

import json
from pathlib import Path

import pyarrow.parquet as pq

from schemas.lake import Lake
from schemas.split_registry import read_split

# Leading columns are what TRL reads; the ids after them keep lineage to the lake.
EXPORT_COLUMNS = {
    "sft": ["messages", "example_id", "prompt_id", "origin"],
    "preference": ["prompt", "chosen", "rejected", "pair_id", "prompt_id", "chosen_score",
                   "rejected_score", "pair_kind"],
    "rl": ["prompt", "answer", "verifier", "metadata", "task", "pass_rate", "curriculum_stage", "prompt_id"],
}


def export_split(lake: Lake, name: str, out_dir: Path, *, version: int | None = None,
                 fmt: str = "parquet") -> Path:
    """Write split `name` to out_dir/<name>.<fmt> (plus a small manifest); return the file."""
    split = read_split(lake, name, version)
    table = split.rows.select(EXPORT_COLUMNS[split.kind])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        with path.open("w", encoding="utf-8") as handle:
            for row in table.to_pylist():
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    manifest = {"split": name, "kind": split.kind, "version": split.version, "rows": table.num_rows,
                "lake": str(lake.location), "file": path.name}
    (out_dir / f"{name}.manifest.json").write_text(json.dumps(manifest, indent=2))
    return path
