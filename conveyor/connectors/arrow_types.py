"""Keeping exact Arrow types when data passes through DuckDB.

DuckDB normalizes some Arrow types on the way through (large_string → string, dictionary →
its values, timestamp[ms] → timestamp[us], date64 → date32, time32 → time64, any zone →
the session's) and cannot take decimals wider than 38 digits at all. Connectors that hold
exact Arrow data (parquet files, the memory fake) hand such decimals to DuckDB as text and,
when a query only projects columns of one table, cast its output back to the stored types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from conveyor.connectors.base import TableRef
from conveyor.errors import DataError

DUCKDB_MAX_PRECISION = 38


def to_duckdb(data: pa.Table) -> pa.Table:
    """The table with decimals wider than DuckDB's 38 digits as exact text."""
    for i, field in enumerate(data.schema):
        if pa.types.is_decimal(field.type) and field.type.precision > DUCKDB_MAX_PRECISION:
            text = pc.cast(data.column(i), pa.string())
            data = data.set_column(i, pa.field(field.name, pa.string(), field.nullable), text)
    return data


def to_duckdb_batch(batch: pa.RecordBatch) -> pa.Table:
    """A batch as a DuckDB-registrable table (see `to_duckdb`)."""
    return to_duckdb(pa.Table.from_batches([batch]))


def projected_columns(query: str) -> tuple[TableRef, dict[str, str]] | None:
    """For `SELECT cols|* FROM t [WHERE …]`: t and each output column's source column.

    None for anything else (joins, grouping, set operations, sub-queries in FROM): then
    outputs may be computed and their DuckDB types are kept.
    """
    try:
        tree = sqlglot.parse_one(query, dialect="duckdb")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Select) or any(
        tree.args.get(part) for part in ("joins", "group", "having", "with", "laterals")
    ):
        return None
    source = tree.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table):
        return None
    table = source.this
    if not isinstance(table.this, exp.Identifier):
        return None  # a table function such as read_csv(…)
    mapping: dict[str, str] = {}
    for projection in tree.expressions:
        star = isinstance(projection, exp.Star) or isinstance(projection.this, exp.Star)
        if star:
            mapping["*"] = "*"
        elif isinstance(projection, exp.Column):
            mapping[projection.name] = projection.name
        elif isinstance(projection, exp.Alias) and isinstance(projection.this, exp.Column):
            mapping[projection.alias] = projection.this.name
    return TableRef(table.name, table.db or None), mapping


def restored_schema(
    output: pa.Schema, mapping: Mapping[str, str], stored: pa.Schema
) -> pa.Schema | None:
    """The output schema with projected columns back in their stored types (None: no change)."""
    fields, changed = [], False
    for field in output:
        source = mapping.get(field.name) or (field.name if "*" in mapping else None)
        index = stored.get_field_index(source) if source else -1
        wanted = stored.field(index).type if index >= 0 else field.type
        lossy = pa.types.is_floating(field.type) and not pa.types.is_floating(wanted)
        if wanted != field.type and not lossy and castable(field.type, wanted):
            field = field.with_type(wanted)
            changed = True
        fields.append(field)
    return pa.schema(fields, metadata=output.metadata) if changed else None


def restore(reader: pa.RecordBatchReader, schema: pa.Schema | None) -> pa.RecordBatchReader:
    """A reader whose batches are cast to `schema` (or the reader itself when None)."""
    if schema is None:
        return reader
    target: pa.Schema = schema

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            arrays = []
            for values, field in zip(batch.columns, target, strict=True):
                if values.type != field.type:
                    try:
                        values = pc.cast(values, field.type)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        raise DataError(f"column {field.name!r}: {exc}") from exc
                arrays.append(values)
            yield pa.RecordBatch.from_arrays(arrays, schema=target)

    return pa.RecordBatchReader.from_batches(target, batches())


def castable(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether Arrow can cast between the two types at all (checked on empty arrays)."""
    try:
        pc.cast(pa.array([], source), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True
