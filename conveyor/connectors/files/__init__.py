"""The files connector: a folder of csv, parquet, json, ndjson or xlsx files, read and written through DuckDB."""
