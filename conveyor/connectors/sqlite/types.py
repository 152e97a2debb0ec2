"""Reading SQLite with exact Arrow types, even though SQLite columns have no fixed type.

ADBC infers each column's Arrow type from the first batch it reads and fails when a later
batch disagrees (an all-NULL first batch reads as int64; a REAL after an INTEGER fails),
and it ignores declared types. So a query is planned before it runs: it is wrapped in a
TEMP VIEW whose `PRAGMA table_info` gives each output column's declared type (columns
without one are typed by probing `typeof()` of their first non-NULL value); then it is
read as `SELECT coalesce(CAST(col AS <storage class>), <placeholder>)`, so every batch
has the same storage classes, with a bit mask saying which values were NULL and a column
naming the first value SQLite cannot convert. Each batch is then converted to the exact
Arrow type with vectorized Arrow compute.
"""

from __future__ import annotations

import contextlib
import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from conveyor.errors import DataError

MASK_BITS = 62  # NULL flags per int64 mask column


@dataclass(frozen=True)
class Kind:
    """How one family of declared types is read: SQL to run, NULL placeholder, validity check."""

    arrow: pa.DataType
    select: str  # `:c` is the column
    placeholder: str
    check: str | None  # true when SQLite can convert the value; None: always


_TEXT_TIME = "typeof(:c) IN ('text', 'null')"
_BOOL = (
    "CASE WHEN typeof(:c) IN ('integer', 'real') THEN :c <> 0"
    " WHEN lower(:c) IN ('true', 't', 'yes', 'y') THEN 1"
    " WHEN lower(:c) IN ('false', 'f', 'no', 'n') THEN 0 END"
)
KINDS: dict[str, Kind] = {
    "int": Kind(
        pa.int64(),
        "CAST(:c AS INTEGER)",
        "0",
        "typeof(:c) IN ('integer', 'null') OR (typeof(:c) = 'real' AND :c = CAST(:c AS INTEGER))",
    ),
    "real": Kind(
        pa.float64(), "CAST(:c AS REAL)", "0.0", "typeof(:c) IN ('integer', 'real', 'null')"
    ),
    "text": Kind(pa.string(), "CAST(:c AS TEXT)", "''", None),
    "blob": Kind(pa.binary(), "CAST(:c AS BLOB)", "X''", None),
    "bool": Kind(pa.bool_(), _BOOL, "0", f":c IS NULL OR ({_BOOL}) IS NOT NULL"),
    "date": Kind(pa.date32(), "date(:c)", "'1970-01-01'", ":c IS NULL OR date(:c) IS NOT NULL"),
    "time": Kind(pa.time64("us"), "CAST(:c AS TEXT)", "'00:00:00'", _TEXT_TIME),
    "timestamp": Kind(pa.timestamp("us"), "CAST(:c AS TEXT)", "'1970-01-01 00:00:00'", _TEXT_TIME),
    "timestamptz": Kind(
        pa.timestamp("us", "UTC"), "CAST(:c AS TEXT)", "'1970-01-01 00:00:00'", _TEXT_TIME
    ),
    "decimal": Kind(pa.decimal128(38, 9), "CAST(:c AS TEXT)", "'0'", "typeof(:c) <> 'blob'"),
}
PROBED = {"integer": "int", "real": "real", "text": "text", "blob": "blob"}
PROBED_DECLARED = {"": "text", "NUMERIC": "text", "DECIMAL": "text", "NUM": "text", "BLOB": "blob"}
"""Declared types read by probing `typeof()`, and their kind when there is no value to probe.

A view reports `BLOB` for a column of a table that declares no type, so `BLOB` is probed too.
"""

_FRACTION = re.compile(r"^\s*\w+\s*\(\s*(\d+)\s*\)")
_DECIMAL = re.compile(r"^\s*(?:DECIMAL|NUMERIC)\w*\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)")


def kind_of_declared(declared: str) -> tuple[str, pa.DataType] | None:
    """The kind and Arrow type of a declared column type; None when it must be probed."""
    d = declared.strip().upper()
    if d in PROBED_DECLARED:
        return None
    match = _DECIMAL.match(d)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2) or 0)
        decimal = pa.decimal128 if precision <= 38 else pa.decimal256
        return "decimal", decimal(precision, scale)
    if d.startswith(("TIMESTAMP", "DATETIME")):
        zoned = "TIMESTAMPTZ" in d or ("TIME ZONE" in d and "WITHOUT" not in d)
        digits = _FRACTION.match(d)
        unit = "ns" if digits and int(digits.group(1)) > 6 else "us"
        return ("timestamptz" if zoned else "timestamp"), pa.timestamp(
            unit, "UTC" if zoned else None
        )
    elif d == "DATE":
        kind = "date"
    elif d.startswith("TIME"):
        kind = "time"
    elif d.startswith("BOOL"):
        kind = "bool"
    elif "INT" in d and not d.startswith("INTERVAL"):
        kind = "int"
    elif any(word in d for word in ("REAL", "FLOA", "DOUB")):
        kind = "real"
    elif "BLOB" in d or d in ("BYTEA", "BINARY", "VARBINARY"):
        kind = "blob"
    else:
        kind = "text"
    return kind, KINDS[kind].arrow


@dataclass(frozen=True)
class PlannedColumn:
    """One output column of a planned query."""

    name: str
    kind: str
    type: pa.DataType


@functools.cache
def _parsed(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, dialect="sqlite")


def template(sql: str, column: exp.Expr) -> exp.Expr:
    """A SQLite expression template with `:c` replaced by a column reference (parsed once)."""
    return exp.replace_placeholders(_parsed(sql).copy(), c=column)


_VIEW_SLOT = exp.to_identifier("_conveyor_view_" + uuid.uuid4().hex, quoted=True)


def read_select(columns: list[PlannedColumn], view: str) -> str:
    """The stable-typed SELECT over `view` (the planned TEMP VIEW), see the module doc.

    Built once per column layout (sqlglot takes about 5 ms to build one of six columns,
    which every incremental run would pay twice) and aimed at each new view by name.
    """
    slot = _VIEW_SLOT.sql(dialect="sqlite")
    named = exp.to_identifier(view, quoted=True).sql(dialect="sqlite")
    return _read_select(tuple(columns)).replace(slot, named)


@functools.lru_cache(maxsize=256)
def _read_select(columns: tuple[PlannedColumn, ...]) -> str:
    source = exp.Table(this=_VIEW_SLOT.copy())

    def ref(name: str) -> exp.Column:
        return exp.column(exp.to_identifier(name, quoted=True), table=source.this.copy())

    projection: list[exp.Expr] = []
    for i, col in enumerate(columns):
        kind = KINDS[col.kind]
        value = exp.func(
            "coalesce",
            template(kind.select, ref(col.name)),
            template(kind.placeholder, ref(col.name)),
        )
        projection.append(exp.alias_(value, f"c{i}", quoted=True))
    for start in range(0, len(columns), MASK_BITS):
        bits: exp.Expr | None = None
        for bit, col in enumerate(columns[start : start + MASK_BITS]):
            flag = exp.paren(template(f"(:c IS NULL) << {bit}", ref(col.name)))
            bits = flag if bits is None else exp.BitwiseOr(this=bits, expression=flag)
        assert bits is not None
        projection.append(exp.alias_(bits, f"m{start // MASK_BITS}", quoted=True))
    bad = exp.Case()
    for i, col in enumerate(columns):
        check = KINDS[col.kind].check
        if check is not None:
            failed = exp.Not(this=exp.paren(template(check, ref(col.name))))
            bad = bad.when(failed, template(f"'{i}:' || quote(:c)", ref(col.name)))
    if bad.args.get("ifs"):
        projection.append(exp.alias_(bad.else_(exp.Literal.string("")), "bad", quoted=True))
    return exp.select(*projection).from_(source).sql(dialect="sqlite")


# --- per-batch conversion to the exact Arrow types -----------------------------------------

_ZONED = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"


def parse_timestamps(values: pa.Array, target: pa.TimestampType) -> pa.Array:
    """ISO 8601 text to a timestamp type; text without a zone is taken as UTC."""
    unit, tz = target.unit, target.tz
    zoned = pc.match_substring_regex(values, _ZONED)
    if not pc.any(zoned).as_py():
        plain = pc.cast(values, pa.timestamp(unit))
        return plain if tz is None else pc.cast(plain, target)
    null = pa.scalar(None, pa.string())
    with_zone = pc.cast(pc.if_else(zoned, values, null), pa.timestamp(unit, "UTC"))
    without = pc.cast(pc.if_else(zoned, null, values), pa.timestamp(unit))
    return pc.if_else(zoned, pc.cast(with_zone, target), pc.cast(without, target))


def parse_times(values: pa.Array) -> pa.Array:
    """'HH:MM:SS[.ffffff]' text to time64('us')."""
    stamps = pc.cast(pc.binary_join_element_wise("1970-01-01T", values, ""), pa.timestamp("us"))
    return pc.cast(stamps, pa.time64("us"))


def parse_decimals(values: pa.Array, target: pa.Decimal128Type | pa.Decimal256Type) -> pa.Array:
    """Decimal text to `target`, exactly; a REAL's text that stands for a decimal reads as it.

    SQLite keeps a non-integral DECIMAL as a REAL, so `amount + 1` on 15.01 stores the
    double 16.009999999999998. Text with more fractional digits than the column's scale is
    therefore read as a double, and taken as the decimal of that scale nearest to it when
    the two are within a few units in the last place (the double *is* that decimal, as
    near as a double gets); any other (1.005 in a two-digit column) fails as data loss.
    """
    with contextlib.suppress(pa.ArrowInvalid):
        return pc.cast(values, target)  # the common case: every text is an exact decimal
    scale = target.scale
    number = rf"(\d+(\.\d{{0,{scale}}})?|\.\d{{1,{scale}}})" if scale > 0 else r"\d+\.?"
    digits = rf"^[+-]?{number}$"
    exact_text = pc.match_substring_regex(values, digits)
    null = pa.scalar(None, pa.string())
    exact = pc.cast(pc.if_else(exact_text, values, null), target)
    doubles = pc.cast(pc.if_else(exact_text, null, values), pa.float64())
    rounded = pc.round(doubles, ndigits=scale, round_mode="half_to_even")
    near = pc.less_equal(
        pc.abs(pc.subtract(doubles, rounded)), pc.multiply(pc.abs(doubles), 2.0**-50)
    )
    if not pc.all(near).as_py():
        raise pa.ArrowInvalid(f"Rescaling to scale {scale} would cause data loss")
    return pc.if_else(exact_text, exact, pc.cast(rounded, target))


def _converter(col: PlannedColumn) -> Callable[[pa.Array], pa.Array]:
    if pa.types.is_decimal(col.type):
        return lambda a: parse_decimals(a, col.type)  # type: ignore[arg-type]
    if col.kind in ("timestamp", "timestamptz"):
        return lambda a: parse_timestamps(a, col.type)
    if col.kind == "time":
        return parse_times
    if col.kind == "bool":
        return lambda a: pc.not_equal(a, 0)
    return lambda a: pc.cast(a, col.type)


def _first_failure(values: pa.Array, convert: Callable[[pa.Array], pa.Array]) -> int:
    """The index of a value `convert` rejects, found by bisection (error path only)."""
    lo, hi = 0, len(values)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            convert(values.slice(lo, mid - lo))
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    return lo


def convert_batch(
    batch: pa.RecordBatch, columns: list[PlannedColumn], schema: pa.Schema, label: str
) -> pa.RecordBatch:
    """One batch of `read_select` output as the planned Arrow schema; DataError on bad values."""
    n = len(columns)
    if batch.num_columns > n + (n + MASK_BITS - 1) // MASK_BITS:
        bad = batch.column(batch.num_columns - 1)
        failed = pc.not_equal(bad, "")
        if pc.any(failed).as_py():
            position, _, value = bad[pc.index(failed, True).as_py()].as_py().partition(":")
            col = columns[int(position)]
            raise DataError(
                f"{label}: column {col.name!r}: cannot read {value} as {col.type}",
                table=label,
                column=col.name,
                value=value,
            )
    arrays = []
    for i, col in enumerate(columns):
        convert = _converter(col)
        raw = batch.column(i)
        try:
            values = convert(raw)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            value = raw[_first_failure(raw, convert)].as_py()
            raise DataError(
                f"{label}: column {col.name!r}: cannot read {value!r} as {col.type}: {exc}",
                table=label,
                column=col.name,
                value=str(value),
            ) from exc
        mask = batch.column(n + i // MASK_BITS)
        is_null = pc.not_equal(pc.bit_wise_and(mask, 1 << (i % MASK_BITS)), 0)
        if pc.any(is_null).as_py():
            values = pc.if_else(is_null, pa.scalar(None, col.type), values)
        arrays.append(values)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# --- Arrow values SQLite cannot hold natively, made storable --------------------------------


def storable_array(values: pa.Array) -> pa.Array:
    """A column as ADBC's SQLite ingest can write it, exactly (see `sql.DIALECT_TYPES`)."""
    dt = values.type
    if pa.types.is_dictionary(dt):
        return storable_array(pc.cast(values, dt.value_type))
    if pa.types.is_decimal(dt) or pa.types.is_time(dt) or pa.types.is_null(dt):
        return pc.cast(values, pa.string())
    if pa.types.is_uint64(dt):
        return pc.cast(values, pa.string())
    if pa.types.is_timestamp(dt) and (dt.tz is not None or dt.unit == "ns"):
        # ISO text, nanoseconds kept (TIMESTAMP(9)), UTC marked with Z
        utc = pc.cast(values, pa.timestamp(dt.unit, "UTC" if dt.tz else None))
        text = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S")
        return pc.binary_join_element_wise(text, "Z", "") if dt.tz else text
    if pa.types.is_timestamp(dt) and dt.unit != "us":
        return pc.cast(values, pa.timestamp("us"))  # s and ms fit exactly
    if pa.types.is_date64(dt):
        return pc.cast(values, pa.date32())
    if pa.types.is_large_string(dt) or pa.types.is_string_view(dt):
        return pc.cast(values, pa.string())
    if (
        pa.types.is_large_binary(dt)
        or pa.types.is_fixed_size_binary(dt)
        or pa.types.is_binary_view(dt)
    ):
        return pc.cast(values, pa.binary())
    if pa.types.is_float16(dt):
        return pc.cast(values, pa.float64())
    if pa.types.is_duration(dt):
        return pc.cast(values, pa.int64())
    return values


def storable(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch whose every column ADBC's SQLite ingest can write exactly."""
    arrays = [storable_array(a) for a in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
