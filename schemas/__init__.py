"""Table schemas, validation, the DuckLake-backed Lake and split registry."""
