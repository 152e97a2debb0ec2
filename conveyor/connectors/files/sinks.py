"""Streaming, atomic writers of one file: parquet, csv, json (one array), ndjson and xlsx.

Each sink takes Arrow record batches and writes them as they come, so memory stays flat
whatever the file's size. JSON is encoded by DuckDB's `to_json` a batch at a time and
written as one buffer per batch: no Python object per row.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any, BinaryIO, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.arrow_types import to_duckdb_batch
from conveyor.connectors.base import TableRef
from conveyor.connectors.files.options import FileOptions
from conveyor.connectors.files.values import as_text, conform, flatten_for_text, is_binary

_BATCH = "__conveyor_batch"
_ROW = "__conveyor_row"


class Sink(Protocol):
    """An open file being written."""

    path: str

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one batch."""

    def close(self) -> None:
        """Finish the file (footer, closing bracket) and close it."""


def open_sink(
    path: str, fmt: str, schema: pa.Schema, options: FileOptions, title: str = "Sheet"
) -> Sink:
    """A sink writing `fmt` to `path`; the file exists (possibly empty) once this returns.

    `title` names what the file holds where the format has such a name (xlsx sheets).
    """
    if fmt == "xlsx":
        from conveyor.connectors.files.xlsx import XlsxSink

        return XlsxSink(path, schema, title)
    if fmt == "parquet":
        return ParquetSink(path, schema, options)
    if fmt == "csv":
        return CsvSink(path, schema, options)
    return JsonSink(path, schema, array=fmt == "json")


class ParquetSink:
    """pyarrow's ParquetWriter; every Arrow type round-trips, the schema is in the footer."""

    def __init__(self, path: str, schema: pa.Schema, options: FileOptions) -> None:
        self.path = path
        self._schema = schema
        compression = options.compression or "snappy"
        self._writer = pq.ParquetWriter(path, schema, compression=compression.upper())

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(conform(batch, self._schema))

    def close(self) -> None:
        self._writer.close()


class CsvSink:
    """pyarrow's CSVWriter, with the connection's delimiter and header settings."""

    def __init__(self, path: str, schema: pa.Schema, options: FileOptions) -> None:
        self.path = path
        self._schema = schema
        self._csv_schema = flatten_for_text(_empty(schema)).schema
        write_options = pcsv.WriteOptions(
            include_header=options.header, delimiter=options.delimiter
        )
        self._writer = pcsv.CSVWriter(path, self._csv_schema, write_options=write_options)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(
            conform(flatten_for_text(conform(batch, self._schema)), self._csv_schema)
        )

    def close(self) -> None:
        self._writer.close()


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _json_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Binary as base64 (as in CSV); naive timestamps as text DuckDB's JSON reader detects."""
    arrays = []
    for values in batch.columns:
        if pa.types.is_timestamp(values.type) and values.type.tz is None:
            values = pc.strftime(values, format="%Y-%m-%d %H:%M:%S")
        arrays.append(values)
    batch = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
    binary = {i: "base64" for i, f in enumerate(batch.schema) if is_binary(f.type)}
    return as_text(batch, binary) if binary else batch


class JsonSink:
    """Rows as JSON objects encoded by DuckDB: one per line (ndjson) or one array (json)."""

    def __init__(self, path: str, schema: pa.Schema, *, array: bool) -> None:
        self.path = path
        self._schema = schema
        self._array = array
        self._first = True
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._con: Any = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        row = exp.cast(exp.func("to_json", exp.column(sql.identifier(_ROW))), "VARCHAR")
        self._query = (
            exp.select(row).from_(sql.table_expr(TableRef(_BATCH), _ROW)).sql(dialect="duckdb")
        )
        if array:
            self._file.write(b"[\n")

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        rows = _json_ready(conform(batch, self._schema))
        self._con.register(_BATCH, to_duckdb_batch(rows))
        try:
            lines = self._con.sql(self._query).to_arrow_table().column(0).combine_chunks()
        finally:
            self._con.unregister(_BATCH)
        separator = ",\n" if self._array else "\n"
        one = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
        text = pc.binary_join(one, separator)[0].as_buffer()
        if self._array and not self._first:
            self._file.write(b",\n")
        self._file.write(text)
        if not self._array:
            self._file.write(b"\n")
        self._first = False

    def close(self) -> None:
        if self._file.closed:
            return
        if self._array:
            self._file.write(b"\n]\n" if not self._first else b"]\n")
        self._file.close()
        self._con.close()


def temp_path(path: str) -> str:
    """A hidden temporary file beside `path`."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name.lstrip('.')}.{uuid.uuid4().hex[:12]}.tmp")


class AtomicWriter:
    """Writes a hidden temporary file and renames it onto `path` on close (atomic)."""

    def __init__(
        self, path: str, fmt: str, schema: pa.Schema, options: FileOptions, title: str = "Sheet"
    ) -> None:
        self._path = path
        self._sink = open_sink(temp_path(path), fmt, schema, options, title)

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one batch to the temporary file."""
        self._sink.write(batch)

    def close(self) -> int:
        """Finish the file and swap it in; return its size."""
        try:
            self._sink.close()
            os.replace(self._sink.path, self._path)
        except BaseException:
            self.abort()
            raise
        return os.path.getsize(self._path)

    def abort(self) -> None:
        """Remove the temporary file; the table's file is untouched."""
        with contextlib.suppress(Exception):
            self._sink.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._sink.path)
