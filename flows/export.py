"""Export a split: plain Parquet/JSONL in HF/TRL columns, or the dataset layout of an RL engine."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation import rewards
from flows import handoff
from schemas.errors import ConfigError, SplitError
from schemas.lake import Lake
from schemas.split_registry import PLAIN_EXPORT_FORMATS, REPLAY_STAGES, Split, read_split
from schemas.tables import MESSAGE, ROW_ID, SPLIT_KINDS
from trainers.data import CHAT_KINDS
from trainers.prompt_chats import attach_chats

# Leading columns are what TRL reads; the ids after them keep lineage to the lake.
EXPORT_COLUMNS = {
    "sft": ["messages", "example_id", "prompt_id", "origin"],
    "preference": ["prompt", "chosen", "rejected", "pair_id", "prompt_id", "chosen_score",
                   "rejected_score", "pair_kind"],
    "rl": ["prompt", "answer", "verifier", "metadata", "task", "pass_rate", "curriculum_stage", REPLAY_STAGES,
           "prompt_id"],
}


def plain_table(lake: Lake, split: Split) -> pa.Table:
    """The split's rows in EXPORT_COLUMNS, as stored; an rl split's difficulty column from the
    ledger; preference and rl rows end with `chat`, the conversation curation sampled the prompt
    with (what `warmstart train --data` renders)."""
    table = split.rows.select(EXPORT_COLUMNS[split.kind])
    if split.kind == "rl":
        column = table.schema.get_field_index(handoff.DIFFICULTY_COLUMN)
        table = table.set_column(column, handoff.DIFFICULTY_COLUMN,
                                 pa.array(handoff.difficulty(lake, split).values, pa.float64()))
    if split.kind not in CHAT_KINDS:
        return table
    row_id = ROW_ID[SPLIT_KINDS[split.kind]]
    rows = split.rows.select(["prompt", "run_id", row_id]).to_pylist()  # what attach_chats reads
    attach_chats(rows, lake, row_id)
    return table.append_column("chat", pa.array([row["chat"] for row in rows], pa.list_(MESSAGE)))


@dataclass(frozen=True)
class ExportFormat:
    """One --format: its file type, a table builder per split kind it takes, and per kind how the
    engine is pointed at the file ({file} and {rewards}, the path of curation/rewards.py)."""

    suffix: str
    builders: dict[str, Callable[[Lake, Split], pa.Table]]
    usage: dict[str, str] = field(default_factory=dict)


_TRL = "TRL: load_dataset('parquet', data_files='{file}', split='train') as train_dataset of "
FORMATS = {
    **{fmt: ExportFormat(fmt, dict.fromkeys(EXPORT_COLUMNS, plain_table)) for fmt in PLAIN_EXPORT_FORMATS},
    "verl": ExportFormat("parquet", {"rl": handoff.verl_table}, {"rl": (
        "verl: data.train_files={file} custom_reward_function.path={rewards} "
        "custom_reward_function.name=compute_score")}),
    "openrlhf": ExportFormat("jsonl", {"rl": handoff.openrlhf_table}, {"rl": (
        "OpenRLHF: --prompt_data {file} --input_key prompt --apply_chat_template --label_key label "
        "--remote_rm_url {rewards}")}),
    "trl": ExportFormat("parquet", {"sft": plain_table, "preference": handoff.trl_preference_table,
                                    "rl": handoff.trl_rl_table}, {
        "sft": _TRL + "SFTTrainer",
        "preference": _TRL + "DPOTrainer",
        "rl": _TRL + "GRPOTrainer(reward_funcs=[curation.rewards.correctness_reward])"}),
}


def formats_for(kind: str) -> list[str]:
    """The --format values that take a split of `kind`."""
    return [fmt for fmt, spec in FORMATS.items() if kind in spec.builders]


@dataclass(frozen=True)
class Exported:
    """What an export wrote, and how to point its engine at it ("" for plain formats)."""

    path: Path
    usage: str


def export_split(lake: Lake, name: str, out_dir: Path, *, version: int | None = None,
                 fmt: str = "parquet") -> Exported:
    """Write split `name` to out_dir/<name>.<parquet|jsonl> in format `fmt`, plus a manifest.

    Everything is checked and built before anything is written: a bad format, a split of the
    wrong kind or rows without their curate config leave out_dir untouched.
    """
    spec = FORMATS.get(fmt)
    if spec is None:
        raise ConfigError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    split = read_split(lake, name, version)
    build = spec.builders.get(split.kind)
    if build is None:
        raise SplitError(f"--format {fmt} exports {' or '.join(spec.builders)} splits; split '{name}' is a "
                         f"'{split.kind}' split (its formats: {', '.join(formats_for(split.kind))})")
    table = build(lake, split)
    path = out_dir / f"{name}.{spec.suffix}"
    usage = spec.usage.get(split.kind, "").format(file=path, rewards=Path(rewards.__file__).resolve())
    manifest = {"split": name, "kind": split.kind, "version": split.version, "rows": table.num_rows,
                "lake": str(lake.location), "file": path.name, "format": fmt}
    if usage:
        manifest["usage"] = usage
    if split.kind == "rl":
        manifest["difficulty"] = {"column": handoff.DIFFICULTY_COLUMN,
                                  "source": handoff.difficulty(lake, split).source}
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(table, path)
    (out_dir / f"{name}.manifest.json").write_text(json.dumps(manifest, indent=2))
    return Exported(path, usage)


def _write(table: pa.Table, path: Path) -> None:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
        return
    with path.open("w", encoding="utf-8") as handle:
        for row in table.to_pylist():
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
