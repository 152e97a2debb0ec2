"""Exact types between MySQL/MariaDB and Arrow, for reads through connectorx.

connectorx streams Arrow straight from the wire protocol, fast, but it cannot hold wide
DECIMALs (it panics past 28 digits, and mis-scales others), TIME values outside one day,
or BIT. `plan_read` looks at the result's column definitions (from a `LIMIT 0` probe) and
decides, per column, a SQL expression the server evaluates instead (DECIMAL as exact
text, TIME as microseconds, BIT as an integer) and the Arrow type the column ends as:

    DECIMAL(p,s) → decimal128/256(p,s)   TINYINT(1), BIT(1) → bool   BIT(n) → int64
    TIME → time64[us]    DATETIME → timestamp[us]    TIMESTAMP → timestamp[us, UTC]
    unsigned integers → uint8…uint64     BLOB/BINARY → binary     text, JSON → string
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from conveyor.errors import DataError

DIALECT = "mysql"
_MICROS_PER_DAY = 86_400_000_000
_UNSIGNED = 32
_BINARY_CHARSET = 63

# MySQL protocol column type codes (include/mysql_com.h, enum_field_types)
DECIMAL, NEWDECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, NULL = 0, 246, 1, 2, 3, 4, 5, 6
TIMESTAMP, LONGLONG, INT24, DATE, TIME, DATETIME, YEAR, NEWDATE = 7, 8, 9, 10, 11, 12, 13, 14
VARCHAR, BIT, JSON, ENUM, SET, GEOMETRY = 15, 16, 245, 247, 248, 255
_INTS = {
    TINY: (pa.int8(), pa.uint8()),
    SHORT: (pa.int16(), pa.uint16()),
    INT24: (pa.int32(), pa.uint32()),
    LONG: (pa.int32(), pa.uint32()),
    LONGLONG: (pa.int64(), pa.uint64()),
}


@dataclass(frozen=True)
class ReadColumn:
    """One result column: `sql` (None: as is) computes it; `type` is what it ends as."""

    name: str
    type: pa.DataType
    sql: str | None = None  # a template over {col}, the quoted column of the derived table
    time_micros: bool = False


def plan_column(
    name: str, code: int, flags: int, length: int, scale: int, charset: int
) -> ReadColumn:
    """The plan for one column, from its protocol column definition."""
    unsigned = bool(flags & _UNSIGNED)
    if code in (DECIMAL, NEWDECIMAL):
        precision = max(1, length - (1 if scale else 0) - (0 if unsigned else 1))
        precision = max(precision, scale)
        dt: pa.DataType = (
            pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        )
        return ReadColumn(name, dt if precision <= 76 else pa.string(), "CAST({col} AS CHAR)")
    if code == TINY and length == 1:
        return ReadColumn(name, pa.bool_())
    if code in _INTS:
        return ReadColumn(name, _INTS[code][1 if unsigned else 0])
    if code == BIT:
        if length == 1:
            return ReadColumn(name, pa.bool_(), "CAST({col} AS UNSIGNED)")
        if length < 64:
            return ReadColumn(name, pa.int64(), "CAST({col} AS SIGNED)")
        return ReadColumn(name, pa.uint64(), "CAST({col} AS UNSIGNED)")
    if code == FLOAT:
        return ReadColumn(name, pa.float32())
    if code == DOUBLE:
        return ReadColumn(name, pa.float64())
    if code == YEAR:
        return ReadColumn(name, pa.int16())
    if code in (DATE, NEWDATE):
        return ReadColumn(name, pa.date32())
    if code == DATETIME:
        return ReadColumn(name, pa.timestamp("us"))
    if code == TIMESTAMP:
        return ReadColumn(name, pa.timestamp("us", "UTC"))
    if code == TIME:
        return ReadColumn(
            name, pa.time64("us"), "CAST(TIME_TO_SEC({col}) * 1000000 AS SIGNED)", time_micros=True
        )
    if code == GEOMETRY:
        return ReadColumn(name, pa.binary(), "ST_AsBinary({col})")
    if code == NULL:
        return ReadColumn(name, pa.string(), "CAST({col} AS CHAR)")
    if charset == _BINARY_CHARSET and code not in (JSON, ENUM, SET):
        return ReadColumn(name, pa.binary())
    return ReadColumn(name, pa.string())


def plan_read(fields: list[Any]) -> list[ReadColumn]:
    """Plans for a result's columns, from pymysql's field descriptors."""
    return [
        plan_column(f.name, f.type_code, f.flags, f.length, f.scale, f.charsetnr) for f in fields
    ]


def mark_utc(columns: list[ReadColumn], positions: set[int]) -> list[ReadColumn]:
    """The plans with the DATETIME columns at `positions` read as UTC instants."""
    utc = pa.timestamp("us", "UTC")
    return [ReadColumn(c.name, utc) if i in positions else c for i, c in enumerate(columns)]


def needs_sql(columns: list[ReadColumn]) -> bool:
    """Whether some column must be computed by the server rather than read as it is."""
    return any(c.sql for c in columns)


def schema_of(columns: list[ReadColumn]) -> pa.Schema:
    """The Arrow schema of converted batches."""
    return pa.schema([pa.field(c.name, c.type) for c in columns])


def convert(batch: pa.RecordBatch, columns: list[ReadColumn], schema: pa.Schema) -> pa.RecordBatch:
    """A batch as connectorx read it → the planned Arrow types (vectorized, per column)."""
    arrays = []
    for values, column in zip(batch.columns, columns, strict=True):
        if values.type != column.type:
            values = _cast(values, column)
        arrays.append(values)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _cast(values: pa.Array, column: ReadColumn) -> pa.Array:
    try:
        if column.time_micros:
            micros = pc.cast(values, pa.int64())
            outside = pc.or_(pc.less(micros, 0), pc.greater_equal(micros, _MICROS_PER_DAY))
            if pc.any(outside).as_py():
                raise DataError(
                    f"column {column.name!r}: a TIME value is outside 00:00–24:00 and has no "
                    "time-of-day type; select it as text, e.g. CAST(… AS CHAR)"
                )
            return micros.cast(pa.time64("us"))
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            values = pc.cast(values, pa.timestamp(column.type.unit))
            return values.cast(column.type)
        return pc.cast(values, column.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"column {column.name!r}: cannot read as {column.type}: {exc}") from exc
