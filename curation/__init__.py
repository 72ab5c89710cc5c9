"""Pure curation steps (table in, table out, small config), generation backends and verifiers."""
