"""How source rows become destination rows: declared columns, GMT, truncation, bookkeeping.

A `Shape` is decided once per task from the query's Arrow schema and the settings, then
applied to every batch with vectorized Arrow compute. It also says which columns the
destination table must have and how an existing table must change to hold them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp
from sqlglot.errors import ParseError

from conveyor.connectors.base import ColumnInfo
from conveyor.engine.replicate import ColumnDef
from conveyor.engine.sql.deletes import DELETED
from conveyor.engine.sql.history import ACTIVE, END, START
from conveyor.errors import ConfigurationError, DataError

_LENGTH = re.compile(
    r"(?:char|varchar|character varying|nvarchar|varchar2)\s*\((\d+)\)", re.IGNORECASE
)


def arrow_type_of(type_sql: str) -> tuple[pa.DataType, int | None]:
    """The Arrow type of a declared SQL column type, and its length limit for strings."""
    try:
        data_type = exp.DataType.build(
            re.sub(r"\s+NOT\s+NULL\s*$", "", type_sql, flags=re.IGNORECASE)
        )
    except (ParseError, ValueError) as exc:
        raise ConfigurationError(f"unknown column type {type_sql!r}") from exc
    kind = data_type.this
    T = exp.DataType.Type
    params = [int(p.name) for p in data_type.expressions if p.name.isdigit()]
    simple: dict[Any, pa.DataType] = {
        T.BOOLEAN: pa.bool_(),
        T.TINYINT: pa.int8(),
        T.SMALLINT: pa.int16(),
        T.INT: pa.int32(),
        T.BIGINT: pa.int64(),
        T.FLOAT: pa.float32(),
        T.DOUBLE: pa.float64(),
        T.DATE: pa.date32(),
        T.DATETIME: pa.timestamp("us"),
        T.TIMESTAMP: pa.timestamp("us"),
        T.TIMESTAMPTZ: pa.timestamp("us", "UTC"),
        T.TIME: pa.time64("us"),
        T.BINARY: pa.binary(),
        T.VARBINARY: pa.binary(),
        T.BLOB: pa.binary(),
        T.UTINYINT: pa.uint8(),
        T.USMALLINT: pa.uint16(),
        T.UINT: pa.uint32(),
        T.UBIGINT: pa.uint64(),
    }
    if kind in simple:
        return simple[kind], None
    if kind in (T.DECIMAL, T.BIGDECIMAL):
        precision, scale = [*params, 0][:2] if params else [38, 9]
        return (
            pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        ), None
    length = params[0] if kind in (T.VARCHAR, T.CHAR, T.NVARCHAR, T.NCHAR) and params else None
    return pa.string(), length


def length_limit(column: ColumnInfo) -> int | None:
    """The maximum string length of an existing destination column, when it has one."""
    match = _LENGTH.search(column.native_type or "")
    return int(match.group(1)) if match else None


@dataclass
class Shape:
    """The destination rows of a task: their schema and the per-batch conversion."""

    source: pa.Schema
    declared: dict[str, tuple[pa.DataType, int | None]] = field(default_factory=dict)
    gmt: bool = False
    truncate_to: dict[str, int] = field(default_factory=dict)
    soft_delete: bool = False
    history_now: dt.datetime | None = None

    @property
    def data_columns(self) -> list[str]:
        """The columns that come from the source."""
        return list(self.declared) if self.declared else list(self.source.names)

    def data_type(self, name: str) -> pa.DataType:
        """The destination type of a source column."""
        arrow = self.declared[name][0] if name in self.declared else self.source.field(name).type
        if self.gmt and pa.types.is_timestamp(arrow):
            return pa.timestamp(arrow.unit, "UTC")
        return arrow

    @property
    def passes_through(self) -> bool:
        """Whether staged rows are the source's rows unchanged: no column converted,
        truncated, renamed or added."""
        return (
            not self.declared
            and not self.truncate_to
            and not self.soft_delete
            and self.history_now is None
            and all(self.data_type(f.name) == f.type for f in self.source)
        )

    def data_field(self, name: str) -> pa.Field:
        """A source column as staged: the source's field (declared type, NOT NULL) while
        its values are unchanged, else a plain field of the new type."""
        arrow = self.data_type(name)
        index = self.source.get_field_index(name)
        if name not in self.declared and index >= 0:
            field = self.source.field(index)
            if field.type == arrow:
                return field
        return pa.field(name, arrow)

    @property
    def schema(self) -> pa.Schema:
        """The schema of staged rows (data columns, then bookkeeping columns)."""
        fields = [self.data_field(n) for n in self.data_columns]
        if self.soft_delete:
            fields.append(pa.field(DELETED, pa.bool_()))
        if self.history_now is not None:
            fields += [
                pa.field(ACTIVE, pa.bool_()),
                pa.field(START, pa.timestamp("us", "UTC")),
                pa.field(END, pa.timestamp("us", "UTC")),
            ]
        return pa.schema(fields)

    def transform(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """One source batch as destination rows."""
        columns = []
        for name in self.data_columns:
            if name not in batch.schema.names:
                raise ConfigurationError(
                    f"the query returns no column {name!r} declared in the statement"
                )
            values = batch.column(name)
            target = self.data_type(name)
            if values.type != target:
                values = _convert(values, target, name)
            if name in self.truncate_to:
                values = pc.utf8_slice_codeunits(values, 0, self.truncate_to[name])
            columns.append(values)
        rows = batch.num_rows
        if self.soft_delete:
            columns.append(pa.repeat(pa.scalar(False), rows))
        if self.history_now is not None:
            stamp = pa.timestamp("us", "UTC")
            columns.append(pa.repeat(pa.scalar(True), rows))
            columns.append(pa.repeat(pa.scalar(self.history_now, stamp), rows))
            columns.append(pa.nulls(rows, stamp))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)


def _convert(values: pa.Array, target: pa.DataType, name: str) -> pa.Array:
    if (
        pa.types.is_timestamp(values.type)
        and pa.types.is_timestamp(target)
        and values.type.tz is None
        and target.tz
    ):
        # naive timestamps are the server's local time; GMT wants them as instants
        local = dt.datetime.now().astimezone().tzinfo
        zone = getattr(local, "key", None) or _offset_name(local)
        return pc.cast(
            pc.assume_timezone(values, zone, ambiguous="earliest", nonexistent="earliest"), target
        )
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(
            f"column {name!r}: cannot convert {values.type} to {target}: {exc}"
        ) from exc


def _offset_name(zone: dt.tzinfo | None) -> str:
    offset = zone.utcoffset(None) if zone else None
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def with_declared_types(schema: pa.Schema, columns: Sequence[ColumnInfo]) -> pa.Schema:
    """A query's schema with the source table's declared types and NOT NULL, for the
    columns it passes through unchanged (same name, same Arrow type)."""
    by_name = {c.name: c for c in columns}
    fields = []
    for found in schema:
        column = by_name.get(found.name)
        fields.append(column.field if column is not None and column.type == found.type else found)
    return pa.schema(fields, metadata=schema.metadata)


def declared_types(columns: Sequence[ColumnDef]) -> dict[str, tuple[pa.DataType, int | None]]:
    """The statement's `(col type, …)` list as Arrow types with string length limits."""
    return {c.name: arrow_type_of(c.type_sql) for c in columns}


def wider(new: pa.DataType, old: pa.DataType) -> pa.DataType | None:
    """A type holding both `old` and `new` values when `new` does not fit in `old`, else None."""
    if new == old:
        return None
    if pa.types.is_integer(new) and pa.types.is_integer(old) and new.bit_width > old.bit_width:
        return new
    if pa.types.is_floating(new) and pa.types.is_floating(old) and new.bit_width > old.bit_width:
        return new
    if pa.types.is_integer(new) and pa.types.is_floating(old):
        return None
    if pa.types.is_decimal(new) and pa.types.is_decimal(old):
        scale = max(new.scale, old.scale)
        digits = max(new.precision - new.scale, old.precision - old.scale)
        if (digits + scale, scale) != (old.precision, old.scale):
            return (
                pa.decimal128(digits + scale, scale)
                if digits + scale <= 38
                else pa.decimal256(digits + scale, scale)
            )
    if (
        pa.types.is_string(new)
        and not pa.types.is_string(old)
        and not pa.types.is_large_string(old)
    ):
        return pa.string()
    return None
