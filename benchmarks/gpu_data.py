"""Data for the GPU check: warm-up rows as exported files (sft.jsonl, dpo.jsonl, grpo.jsonl) and a
fresh lake with one split of each kind, so `warmstart train` runs and records as on a curated lake.
Prints one JSON line: the lake and the files.

Usage: python benchmarks/gpu_data.py OUT_DIR [--rows 64]
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_jobs import COLUMNS, warmup_rows, write_data  # noqa: E402

TRAINERS = ("sft", "dpo", "grpo")


def split_of(trainer: str) -> tuple[str, str, str]:
    """(split kind, lake table, row id column) a trainer trains on, from the trainer registry."""
    from schemas.tables import ROW_ID, SPLIT_KINDS
    from trainers.registry import trainer_spec

    kind = trainer_spec(trainer).split_kind
    return kind, SPLIT_KINDS[kind], ROW_ID[SPLIT_KINDS[kind]]


def lake_rows(trainer: str, rows: list[dict]) -> list[dict]:
    """Rows of the trainer's lake table (ids and the columns the table requires)."""
    from schemas.ids import content_id

    out = []
    for i, row in enumerate(rows):
        base = {c: row[c] for c in COLUMNS[trainer]}
        if trainer == "sft":
            base.update(example_id=content_id("gpu-sft", i), prompt_id=content_id("gpu-p", i), origin="gold")
        elif trainer == "dpo":
            base.update(pair_id=content_id("gpu-pair", i), prompt_id=content_id("gpu-p", i), chosen_score=1.0,
                        rejected_score=0.0, pair_kind="correct_vs_incorrect")
        else:
            base.update(prompt_id=content_id("gpu-p", i), task="sum", pass_rate=0.5, curriculum_stage=None)
        out.append(base)
    return out


def main() -> None:
    from schemas.lake import Lake
    from schemas.split_registry import register_split

    out = Path(sys.argv[1])
    n = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 64
    out.mkdir(parents=True, exist_ok=True)
    rows = warmup_rows(n, seed=0)
    write_data(rows, out)
    lake = Lake(out / "lake")
    for trainer in TRAINERS:
        kind, table, key = split_of(trainer)
        table_rows = lake_rows(trainer, rows)
        lake.commit({table: table_rows}, run_id="gpu-check")
        register_split(lake, kind, kind, [r[key] for r in table_rows], run_id="gpu-check")
    print(json.dumps({"lake": str(out / "lake"), "files": {t: str(out / f"{t}.jsonl") for t in TRAINERS}}))


if __name__ == "__main__":
    main()
