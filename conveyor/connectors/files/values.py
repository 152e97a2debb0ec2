"""Batches made fit for a file: conformed to its columns, and flattened to text for the
formats that hold only text (csv, xlsx): dictionaries decoded, binary as base64, nested
values as JSON — computed by DuckDB a column at a time, never row by row.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.errors import DataError

_BATCH = "__conveyor_batch"


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with exactly `schema`'s fields (nullability, order), or a DataError."""
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    try:
        return batch.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError) as exc:
        raise DataError(f"rows do not fit the file's columns: {exc}") from exc


def is_binary(t: pa.DataType) -> bool:
    """Whether values of the type are bytes."""
    return bool(
        pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    )


def as_text(batch: pa.RecordBatch, columns: dict[int, str]) -> pa.RecordBatch:
    """Replace columns by a DuckDB text function of them (`to_json`, `base64`), vectorized."""
    con = duckdb.connect()
    try:
        con.register(_BATCH, pa.Table.from_batches([batch.select(list(columns))]))
        for i, function in columns.items():
            name = batch.schema.field(i).name
            text = exp.cast(exp.func(function, sql.column(name)), "VARCHAR")
            query = exp.select(text).from_(_BATCH).sql(dialect="duckdb")
            values = con.sql(query).to_arrow_table().column(0).combine_chunks()
            batch = batch.set_column(i, pa.field(name, pa.string()), values)
    finally:
        con.close()
    return batch


def flatten_for_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns CSV can hold: dictionaries decoded, binary as base64, nested values as JSON."""
    arrays = [
        pc.cast(a, a.type.value_type) if pa.types.is_dictionary(a.type) else a
        for a in batch.columns
    ]
    batch = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
    text: dict[int, str] = {}
    for i, field in enumerate(batch.schema):
        if is_binary(field.type):
            text[i] = "base64"
        elif pa.types.is_nested(field.type):
            text[i] = "to_json"
    return as_text(batch, text) if text else batch
