"""Load eval sets for decontamination: {benchmark: [question, ...]} from JSONL/Parquet files.

A source is "bundled" (every data/eval/*.jsonl shipped with warmstart), a file (benchmark name =
file stem) or a folder of such files. Each record needs a `question` or `prompt` text field.
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.errors import InputError

BUNDLED = "bundled"
TEXT_FIELDS = ("question", "prompt")
_SUFFIXES = {".jsonl", ".parquet"}


def bundled_dir() -> Path:
    """The held-out reasoning-gym eval sets shipped in the project (data/eval)."""
    return Path(__file__).resolve().parents[1] / "data" / "eval"


def load_eval_sets(sources: list[str | Path]) -> dict[str, list[str]]:
    """Read every source into {benchmark: texts}; InputError names the file and line of a bad record."""
    files = [f for source in sources for f in _files(source)]
    eval_sets, origin = {}, {}
    for path in files:
        name = path.stem
        if name in eval_sets:
            raise InputError(f"benchmark '{name}' is also defined by {origin[name]}; rename one file",
                             path=path)
        texts = _read_parquet(path) if path.suffix == ".parquet" else _read_jsonl(path)
        if not texts:
            raise InputError("eval set has no records", path=path)
        eval_sets[name], origin[name] = texts, path
    return eval_sets


def _files(source: str | Path) -> list[Path]:
    if str(source) == BUNDLED:
        files = sorted(bundled_dir().glob("*.jsonl"))
        if not files:
            raise InputError("no bundled eval sets (run data/eval/make_eval_sets.py)", path=bundled_dir())
        return files
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES)
        if not files:
            raise InputError("folder holds no .jsonl or .parquet eval sets", path=path)
        return files
    if not path.exists():
        raise InputError("eval set file not found", path=path)
    if path.suffix not in _SUFFIXES:
        raise InputError(f"eval set must be .jsonl or .parquet, not '{path.suffix or 'no suffix'}'", path=path)
    return [path]


def _read_jsonl(path: Path) -> list[str]:
    from flows.sources import jsonl_records

    return [_text(record, path, number) for number, record in jsonl_records(path)]


def _read_parquet(path: Path) -> list[str]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable Parquet file ({exc})", path=path) from exc
    field = next((f for f in TEXT_FIELDS if f in table.column_names), None)
    if field is None:
        raise InputError(f"needs a 'question' or 'prompt' column (columns: {', '.join(table.column_names)})",
                         path=path)
    return [_text({field: value}, path, row) for row, value in enumerate(table.column(field).to_pylist(), 1)]


def _text(record, path: Path, line: int) -> str:
    if not isinstance(record, dict):
        raise InputError("expected a JSON object", path=path, line=line)
    field = next((f for f in TEXT_FIELDS if f in record), None)
    if field is None:
        raise InputError(f"needs a 'question' or 'prompt' field (fields: {', '.join(map(str, record)) or 'none'})",
                         path=path, line=line)
    text = record[field]
    if not isinstance(text, str) or not text.strip():
        raise InputError("must be a non-empty string", path=path, line=line, field=field)
    return text
