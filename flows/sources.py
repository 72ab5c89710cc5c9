"""Load prompt sources into one `prompts` table; every problem names the file, line and field."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flows.config import FileSource, HFSource, ReasoningGymSource
from schemas.errors import ConfigError, InputError
from schemas.ids import canonical_json, content_id
from schemas.validate import conform


def load_prompts(sources: list, data_roots: list[Path] | None = None, extra: pa.Table | None = None) -> pa.Table:
    """All sources (and `extra` prompt rows) as one prompts table, de-duplicated by prompt_id;
    error if nothing loads."""
    if data_roots is not None:
        for source in sources:
            if hasattr(source, "path"):
                check_inside(Path(source.path), data_roots)
    tables = [_LOADERS[type(s)](s) for s in sources] + ([extra] if extra is not None else [])
    if not tables:
        raise InputError("no sources to load prompts from")
    table = pa.concat_tables(tables)
    if table.num_rows == 0:
        raise InputError("the sources produced no prompts")
    _, first = _unique_first(table.column("prompt_id").to_pylist())
    return table.take(first)


def check_inside(path: Path, roots: list[Path]) -> None:
    """Refuse a source path that resolves (symlinks too) outside every configured data root."""
    real = path.resolve()
    if not any(real.is_relative_to(Path(root).resolve()) for root in roots):
        raise InputError(f"outside the configured data_roots ({', '.join(map(str, roots))})", path=path)


def _unique_first(ids: list[str]) -> tuple[set, list[int]]:
    seen, keep = set(), []
    for i, pid in enumerate(ids):
        if pid not in seen:
            seen.add(pid)
            keep.append(i)
    return seen, keep


def _row(source: str, task: str, prompt: str, answer, verifier: str, metadata: dict, guard: str) -> dict:
    answer = None if answer is None else str(answer)
    return {"prompt_id": content_id(task, prompt), "source": source, "task": task, "prompt": prompt,
            "answer": answer, "verifier": verifier, "metadata": canonical_json(metadata),
            "split_guard": guard}


def load_reasoning_gym(src: ReasoningGymSource) -> pa.Table:
    """Generate `count` prompts of a reasoning-gym task; their metadata lets the verifier score them."""
    import reasoning_gym
    from reasoning_gym.factory import DATASETS

    if src.task not in DATASETS:
        import difflib
        close = difflib.get_close_matches(src.task, list(DATASETS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"sources: unknown reasoning-gym task '{src.task}'{hint}")
    try:
        data = reasoning_gym.create_dataset(src.task, size=src.count, seed=src.seed, **src.config)
        entries = [data[i] for i in range(src.count)]
    except (TypeError, AssertionError, ValueError) as exc:
        raise ConfigError(f"sources: reasoning-gym task '{src.task}' rejects config "
                          f"{src.config}: {exc}") from exc
    rows = [_row(f"reasoning_gym:{src.task}", src.task, e["question"], e["answer"], "reasoning_gym",
                 e["metadata"], src.split_guard) for e in entries]
    return conform("prompts", rows, run_id="")


def _records_to_table(records, src, origin: str) -> pa.Table:
    """Map raw records (line number, dict) to prompt rows, checking the mapped fields."""
    task = src.task or Path(str(src.path)).stem
    rows = []
    for line, record in records:
        if not isinstance(record, dict):
            raise InputError("expected a JSON object", path=src.path, line=line)
        rows.append(_mapped_row(record, src, task, origin, line))
        if src.limit and len(rows) >= src.limit:
            break
    if not rows:
        raise InputError("no rows", path=src.path)
    return conform("prompts", rows, run_id="")


def _mapped_row(record: dict, src, task: str, origin: str, line: int) -> dict:
    prompt = record.get(src.prompt_field)
    if prompt is None:
        raise InputError(f"missing (fields here: {', '.join(sorted(map(str, record))) or 'none'})",
                         path=src.path, line=line, field=src.prompt_field)
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("must be a non-empty string", path=src.path, line=line, field=src.prompt_field)
    answer = None
    if src.answer_field:
        if src.answer_field not in record:
            raise InputError("missing", path=src.path, line=line, field=src.answer_field)
        answer = record[src.answer_field]
    fields = {src.prompt_field, src.answer_field}
    metadata = {k: v for k, v in record.items() if k not in fields}
    if isinstance(metadata.get("metadata"), dict):  # e.g. reasoning-gym entries saved to JSONL
        metadata = {**metadata.pop("metadata"), **metadata}
    return _row(origin, task, prompt, answer, src.verifier, metadata, src.split_guard)


def jsonl_records(path: Path):
    """(line number, parsed object) per non-blank line; InputError names the file and line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path=path) from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"invalid UTF-8 at byte {exc.start}", path=path, line=number) from exc
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})",
                                 path=path, line=number) from exc


def load_file(src: FileSource) -> pa.Table:
    """A JSONL or Parquet file of prompts, mapped through the source's field names."""
    path = Path(src.path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if src.type == "jsonl":
        return _records_to_table(jsonl_records(path), src, f"jsonl:{path.name}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable Parquet file ({exc})", path=path) from exc
    for name in filter(None, [src.prompt_field, src.answer_field]):
        if name not in table.column_names:
            raise InputError(f"missing column (columns: {', '.join(table.column_names)})",
                             path=path, field=name)
    records = enumerate(table.to_pylist(), start=1)
    return _records_to_table(records, src, f"parquet:{path.name}")


def load_hf(src: HFSource) -> pa.Table:
    """A local `datasets` dataset (save_to_disk folder or data files); never a hub download."""
    import datasets

    path = Path(src.path)
    try:
        if path.is_dir() and (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            data = datasets.load_from_disk(str(path))
            data = data[src.split] if isinstance(data, datasets.DatasetDict) else data
        else:
            kind = "json" if path.suffix in {".json", ".jsonl"} else path.suffix.lstrip(".") or "parquet"
            data = datasets.load_dataset(kind, data_files=str(path), split=src.split)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise InputError(f"cannot load local dataset: {exc}", path=path) from exc
    records = enumerate(data, start=1)
    return _records_to_table(records, src, f"hf:{path.name}")


_LOADERS = {ReasoningGymSource: load_reasoning_gym, FileSource: load_file, HFSource: load_hf}
