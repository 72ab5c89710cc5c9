"""Training rows from a lake split or an exported Parquet/JSONL file, checked before any compute.

Each trainer reads the split kind its registry entry names (trainers/registry.py): sft ->
messages; preference -> prompt/chosen/rejected; rl -> prompt/answer/verifier (+ metadata JSON,
curriculum_stage). A wrong kind, a missing column or a null field is an error that names the
split, row and field.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from curation.rewards import parse_metadata
from schemas.errors import InputError, SplitError
from schemas.split_registry import PLAIN_EXPORT_FORMATS, read_split
from schemas.tables import ROW_ID, SPLIT_KINDS
from trainers.registry import trainer_spec

REQUIRED = {"sft": ("messages",), "preference": ("prompt", "chosen", "rejected"),
            "rl": ("prompt", "answer", "verifier")}
ROLES = {"system", "user", "assistant"}


@dataclass
class SplitData:
    """Checked rows of one split, with where they came from (lineage)."""

    name: str
    kind: str
    version: int | None
    source: str
    rows: list[dict]


def load_split(trainer: str, *, lake=None, split: str | None = None, version: int | None = None,
               data: str | Path | None = None) -> SplitData:
    """Rows for `trainer` from lake split `split` (at `version`) or from file/directory `data`."""
    kind = trainer_spec(trainer).split_kind
    if data is not None:
        table, name, found_kind, version, source = _read_export(Path(data))
    elif split:
        if lake is None:
            raise SplitError(f"split '{split}' needs a lake (--lake DIR)")
        loaded = read_split(lake, split, version)
        table, name, found_kind, version = loaded.rows, loaded.name, loaded.kind, loaded.version
        source = f"lake {lake.location} split '{split}' version {version}"
    else:
        raise SplitError(f"no data: give --split NAME (a '{kind}' split) or --data DIR")
    found_kind = found_kind or _guess_kind(table.column_names)
    if found_kind != kind:
        raise SplitError(f"{source} is a '{found_kind}' split; `warmstart train {trainer}` needs a "
                         f"'{kind}' split (columns {', '.join(REQUIRED[kind])})")
    return SplitData(name, kind, version, source, check_rows(table, kind, source))


def check_rows(table: pa.Table, kind: str, source: str) -> list[dict]:
    """Rows as dicts after checking required columns and fields; metadata parsed to a dict."""
    missing = [c for c in REQUIRED[kind] if c not in table.column_names]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}; "
                         f"a '{kind}' split needs {', '.join(REQUIRED[kind])}", field=missing[0])
    if table.num_rows == 0:
        raise SplitError(f"{source} is empty")
    id_column = ROW_ID.get(SPLIT_KINDS[kind])
    rows = table.to_pylist()
    for index, row in enumerate(rows):
        where = f"{source}, row {row.get(id_column) or index}"
        for column in REQUIRED[kind]:
            if row.get(column) is None or (isinstance(row[column], str) and not row[column].strip()):
                raise InputError(f"{where}: '{column}' is empty", field=column)
        if kind == "sft":
            _check_messages(row["messages"], where)
        if kind == "rl":
            row["metadata"] = parse_metadata(row.get("metadata"), where)
    return rows


def _check_messages(messages, where: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise InputError(f"{where}: 'messages' must be a non-empty list of {{role, content}}", field="messages")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES or message.get("content") is None:
            raise InputError(f"{where}: bad message {message!r}; roles are {', '.join(sorted(ROLES))}",
                             field="messages")
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise InputError(f"{where}: no assistant message to learn from", field="messages")


def _guess_kind(columns: list[str]) -> str:
    for kind, needed in (("preference", REQUIRED["preference"]), ("rl", REQUIRED["rl"]), ("sft", REQUIRED["sft"])):
        if all(c in columns for c in needed):
            return kind
    if "messages" in columns:
        return "sft"
    return "preference" if "chosen" in columns else ("rl" if "answer" in columns else "unknown")


def export_stages(path: str | Path) -> list[Path]:
    """The two files of a DMT mix exported into one folder (<name>_stage1, <name>_stage2), in
    stage order; [] for anything else. Other files beside them are an error (which to train?)."""
    path = Path(path)
    if not path.is_dir():
        return []
    files = sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".jsonl"))
    first = [f for f in files if f.stem.endswith("_stage1")]
    if not first:
        return []
    stages = [first[0], first[0].with_name(first[0].stem[:-1] + "2" + first[0].suffix)]
    if not stages[1].exists() or len(files) != 2:
        raise SplitError(f"{path}: a DMT export needs exactly <name>_stage1 and <name>_stage2 files; "
                         f"found {', '.join(f.name for f in files)}")
    return stages


def _read_export(path: Path):
    """A `warmstart export` output: one file, or a directory of .parquet/.jsonl (+ manifest)."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    files = [path] if path.is_file() else sorted(p for p in path.iterdir()
                                                 if p.suffix in (".parquet", ".jsonl"))
    if not files:
        raise SplitError(f"{path}: no .parquet or .jsonl files to train on")
    tables = []
    for file in files:
        try:
            tables.append(pq.read_table(file) if file.suffix == ".parquet" else pa_json.read_json(file))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{file}: cannot read ({exc})") from None
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: files have different columns ({exc})") from None
    manifest = _manifest(files[0])
    if manifest.get("format", "parquet") not in PLAIN_EXPORT_FORMATS:
        raise SplitError(f"{path} was exported with --format {manifest['format']} for another engine; "
                         f"`warmstart train` reads --format {' or '.join(PLAIN_EXPORT_FORMATS)} exports")
    name = manifest.get("split") or files[0].stem
    return table, name, manifest.get("kind"), manifest.get("version"), str(path)


def _manifest(file: Path) -> dict:
    candidate = file.with_name(file.stem + ".manifest.json")
    if candidate.exists():
        try:
            return json.loads(candidate.read_text())
        except json.JSONDecodeError:
            return {}
    return {}
