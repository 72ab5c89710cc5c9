"""SQL text the lake runs, built by small functions that tests check without a database."""

import pyarrow as pa

from schemas.tables import TableSpec

_DUCK_TYPES = {
    pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


def quote(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a string literal for DuckDB."""
    return "'" + text.replace("'", "''") + "'"


def duck_type(arrow_type: pa.DataType) -> str:
    """DuckDB column type for an Arrow type used in our schemas."""
    if arrow_type in _DUCK_TYPES:
        return _DUCK_TYPES[arrow_type]
    if pa.types.is_list(arrow_type):
        return duck_type(arrow_type.value_type) + "[]"
    if pa.types.is_struct(arrow_type):
        inner = ", ".join(f"{quote(f.name)} {duck_type(f.type)}" for f in arrow_type)
        return f"STRUCT({inner})"
    raise TypeError(f"no DuckDB type for {arrow_type}")


def create_table(table: TableSpec) -> str:
    """CREATE TABLE IF NOT EXISTS for a table spec."""
    cols = ", ".join(f"{quote(f.name)} {duck_type(f.type)}" for f in table.schema)
    return f"CREATE TABLE IF NOT EXISTS {quote(table.name)} ({cols})"


def add_column(table: TableSpec, field: pa.Field) -> str:
    """ALTER TABLE ... ADD COLUMN for a column the schema declares and an older lake lacks."""
    return f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(field.name)} {duck_type(field.type)}"


def select_declared(table: TableSpec, present: set[str]) -> str:
    """SELECT of every declared column in schema order; one the stored table lacks (an older lake,
    or a snapshot from before the column existed) reads as a typed NULL."""
    cols = ", ".join(quote(f.name) if f.name in present else f"CAST(NULL AS {duck_type(f.type)}) AS {quote(f.name)}"
                     for f in table.schema)
    return f"SELECT {cols} FROM {quote(table.name)}"


def delete_matching(table: TableSpec, staged: str) -> str:
    """DELETE the rows of `table` whose key also appears in the staged relation (upsert, step 1)."""
    match = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in table.key)
    return (f"DELETE FROM {quote(table.name)} AS t "
            f"WHERE EXISTS (SELECT 1 FROM {staged} AS s WHERE {match})")


def insert_from(table: TableSpec, staged: str) -> str:
    """INSERT the staged rows into `table`, one row per key (upsert, step 2)."""
    cols = ", ".join(quote(f.name) for f in table.schema)
    keys = ", ".join(quote(k) for k in table.key)
    return (f"INSERT INTO {quote(table.name)} ({cols}) SELECT {cols} FROM {staged} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys}) = 1")


def attach(catalog: str, data_path: str, *, read_only: bool, version: int | None) -> str:
    """ATTACH a DuckLake catalog as `lake`, optionally read-only or pinned to a snapshot."""
    options = [f"DATA_PATH {literal(data_path)}"]
    if read_only:
        options.append("READ_ONLY")
    if version is not None:
        options.append(f"SNAPSHOT_VERSION {int(version)}")
    return f"ATTACH {literal('ducklake:' + catalog)} AS lake ({', '.join(options)})"
