"""Generation shards staged as Parquet in the lake's workdir (a local lake's folder, or a shared
lake's data_path), so a killed run resumes without regenerating.

A shard file is written atomically (temp name, then rename) as soon as the engine returns it;
the flow commits all staged shards in one snapshot and then clears the folder.
"""

import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class GenerationStage:
    """The staging folder for one (model, sampling) combination of one lake."""

    def __init__(self, workdir: Path, key: str):
        self.folder = workdir / "staging" / key

    def write(self, table: pa.Table) -> None:
        """Persist one finished shard."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex[:12]}"
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        tmp.rename(self.folder / f"{name}.parquet")

    def read(self) -> pa.Table | None:
        """Every shard staged so far (None when nothing is staged)."""
        parts = sorted(self.folder.glob("part-*.parquet")) if self.folder.exists() else []
        if not parts:
            return None
        return pa.concat_tables([pq.read_table(p) for p in parts])

    def clear(self) -> None:
        """Forget the staged shards once they are committed."""
        shutil.rmtree(self.folder, ignore_errors=True)
