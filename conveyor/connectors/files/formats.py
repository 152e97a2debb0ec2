"""What the file connector knows of formats and names, apart from reading and writing.

The formats, their file extensions and media types, the `file:///folder?format=` URL,
and the one rule that keeps every file inside its folder: a table or schema name is a
plain file name — no separator, no `..`, no NUL, no leading dot.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import sqlglot
from sqlglot import exp

from conveyor.connectors.files.options import FileOptions
from conveyor.errors import InvalidInput

FORMATS = ("csv", "parquet", "json", "ndjson", "xlsx")
EXTENSIONS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}
"""File extensions read as tables, in the order a table name is looked up."""
WRITE_ONLY = {".xlsx": "xlsx"}
"""Formats Conveyor writes but does not read."""
MIME_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
"""The media type of each format's files (downloads answer with it)."""


def parse_url(url: str) -> tuple[str, str | None]:
    """The folder and format of `file:///abs/dir?format=csv`."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        raise InvalidInput(f"{url!r} is not a file:///folder URL", field="url")
    folder = unquote(parts.path)
    if not folder:
        raise InvalidInput("a file connection needs a folder path", field="url")
    formats = parse_qs(parts.query).get("format", [None])
    fmt = formats[-1]
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"unknown file format {fmt!r}; known: {', '.join(FORMATS)}", field="url")
    return folder, fmt


def check_name(name: str, what: str = "table") -> str:
    """A table or schema name that stays inside the folder, or InvalidInput."""
    bad = ("/", "\\", "\0", "..")
    if not name or name.startswith(".") or any(b in name for b in bad):
        raise InvalidInput(f"{what} name {name!r} is not allowed for files", field=what)
    return name


CSV_BUFFER_BYTES = 4 * 1024 * 1024
"""DuckDB's CSV read buffer. Its default, 16 × max_line_size = 32 MiB, with a buffer being
parsed and the next one read ahead, was most of a CSV load's memory; 4 MiB still holds a
line of up to max_line_size (2 MiB), and parsing is no slower."""


def scan_sql(path: str, fmt: str, options: FileOptions) -> exp.Expr:
    """SELECT * FROM the DuckDB table function that reads one file."""
    if fmt == "parquet":
        template = "SELECT * FROM read_parquet(:p)"
    elif fmt == "csv":
        template = (
            "SELECT * FROM read_csv_auto(:p, delim = :d, header = :h, allow_quoted_nulls = FALSE,"
            " buffer_size = :b)"
        )
    elif fmt == "ndjson":
        template = "SELECT * FROM read_json_auto(:p, format = 'newline_delimited')"
    else:
        template = "SELECT * FROM read_json_auto(:p, format = 'array')"
    tree = sqlglot.parse_one(template, dialect="duckdb")
    values: dict[str, exp.Expr] = {
        "p": exp.Literal.string(path),
        "d": exp.Literal.string(options.delimiter),
    }
    values["b"] = exp.Literal.number(CSV_BUFFER_BYTES)
    return exp.replace_placeholders(tree, **values, h=exp.Boolean(this=options.header))
