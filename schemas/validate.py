"""Conform tables to their lake schema at the boundary, with errors that name the column."""

import numpy as np
import pyarrow as pa

from schemas.errors import LakeError
from schemas.tables import spec


def conform(name: str, data: pa.Table | list[dict], *, run_id: str | None = None) -> pa.Table:
    """Return `data` cast to table `name`'s schema, in its column order.

    Extra columns are dropped; a missing `run_id` is filled from `run_id` and a missing optional
    column with NULL; any other missing column, a failed cast, or a null key is an error naming
    the table and column.
    """
    table_spec = spec(name)
    if isinstance(data, list):
        data = pa.Table.from_pylist(data) if data else table_spec.schema.empty_table()
    columns = []
    for field in table_spec.schema:
        if field.name in data.column_names:
            column = data.column(field.name)
        elif field.name == "run_id" and run_id is not None:
            column = pa.array([run_id] * data.num_rows, pa.string())
        elif field.name in table_spec.optional:
            column = pa.nulls(data.num_rows, field.type)
        else:
            raise LakeError(f"table '{name}': missing column '{field.name}'")
        try:
            column = column.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LakeError(f"table '{name}', column '{field.name}': cannot store "
                            f"{column.type} as {field.type} ({exc})") from exc
        if field.name in table_spec.key and column.null_count:
            raise LakeError(f"table '{name}': key column '{field.name}' has {column.null_count} null(s)")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table_spec.schema)


def last_per_key(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """Keep the last row of each key, so a commit with repeated keys behaves like repeated upserts."""
    if table.num_rows < 2:
        return table
    indexed = table.append_column("__row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    last = indexed.group_by(list(key), use_threads=False).aggregate([("__row", "max")])
    rows = np.sort(last.column("__row_max").to_numpy())
    return table.take(pa.array(rows)) if rows.size < table.num_rows else table
