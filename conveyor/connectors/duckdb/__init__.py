"""The DuckDB connector: a database file with native Arrow in and out."""
