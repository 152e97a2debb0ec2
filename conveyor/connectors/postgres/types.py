"""Exact types between PostgreSQL and Arrow, both ways, for ADBC's binary COPY.

Reading: ADBC returns `numeric` as strings (an opaque extension type carrying the column's
typmod) and types it does not know (timetz, inet, bit, xml, money, …) as opaque binary.
`plan_read` turns a query's result schema into (a) the SQL casts that make the server
send such columns as text or numeric, and (b) the Arrow type each column is converted to
per batch: `numeric(p, s)` → decimal128/256(p, s); `numeric` without precision →
decimal128(38, 9), failing loudly on a value that does not fit (or exact text, by
option); json/jsonb → string; uuid → its text form.

Writing: COPY's binary format needs each Arrow column to match its PostgreSQL column
exactly (a float32 is not a float8, a string is not a jsonb), so `wire_type` gives the
Arrow type to cast each column to before it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from conveyor.connectors import sql
from conveyor.errors import DataError

DIALECT = "postgres"
UNCONSTRAINED = pa.decimal128(38, 9)
_TYPE = b"POSTGRESQL:type"
_TYPMOD = b"POSTGRESQL:typmod"
_NUMERIC_TO_SQL = {"money"}  # read as numeric: ADBC gives money as raw cents


@dataclass(frozen=True)
class ReadColumn:
    """How one result column is fetched (`cast`: a SQL type to cast it to) and typed."""

    name: str
    type: pa.DataType
    cast: str | None = None
    decimal_from_text: bool = False
    unwrap: bool = False  # an extension array whose storage is already the wanted type
    scaled: bool = False  # the server sends value × 10^scale as int8 (see `plan_read`)


def _pg_type(field: pa.Field) -> str:
    value: bytes = (field.metadata or {}).get(_TYPE, b"")
    return value.decode()


def numeric_type(typmod: int, unconstrained: str) -> pa.DataType:
    """The Arrow type of `numeric` with the given typmod (-1: no precision declared)."""
    if typmod < 4:
        return UNCONSTRAINED if unconstrained == "decimal" else pa.string()
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0x7FF
    if scale > precision or scale >= 0x400:  # negative scales (PG 15) stay exact as text
        return pa.string()
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= 76:
        return pa.decimal256(precision, scale)
    return pa.string()


def plan_read(schema: pa.Schema, unconstrained: str) -> list[ReadColumn]:
    """Per result column: the cast the query needs and the Arrow type read batches get.

    A `numeric(p, s)` of up to 18 digits is read as the integer value × 10^s (exact: its
    values have at most s decimals, and fit int8), which the batch then reinterprets as
    decimal128(p, s) without arithmetic. Decoding numerics to text in the driver and
    parsing the text back was a third of the client's CPU in a PostgreSQL → PostgreSQL copy.
    """
    columns = []
    for field in schema:
        pg_type, dt = _pg_type(field), field.type
        if pg_type == "numeric" or pg_type in _NUMERIC_TO_SQL:
            typmod = int((field.metadata or {}).get(_TYPMOD, b"-1"))
            target = numeric_type(typmod if pg_type == "numeric" else -1, unconstrained)
            if pg_type == "numeric" and pa.types.is_decimal(target) and target.precision <= 18:
                columns.append(ReadColumn(field.name, target, scaled=True))
                continue
            cast = "numeric" if pg_type in _NUMERIC_TO_SQL else None
            columns.append(ReadColumn(field.name, target, cast, decimal_from_text=True))
        elif pa.types.is_list(dt) and isinstance(dt.value_type, pa.BaseExtensionType):
            # arrays of numeric, inet, …: ADBC reads their elements as opaque bytes
            columns.append(ReadColumn(field.name, pa.list_(pa.string()), cast="text[]"))
        elif isinstance(dt, pa.BaseExtensionType) and dt.extension_name == "arrow.json":
            columns.append(ReadColumn(field.name, pa.string(), unwrap=True))
        elif isinstance(dt, pa.BaseExtensionType):
            columns.append(ReadColumn(field.name, pa.string(), cast="text"))
        else:
            columns.append(ReadColumn(field.name, dt))
    return columns


def needs_casts(columns: list[ReadColumn]) -> bool:
    """Whether the query must be wrapped to cast some columns on the server."""
    return any(c.cast or c.scaled for c in columns)


def convert(batch: pa.RecordBatch, columns: list[ReadColumn], schema: pa.Schema) -> pa.RecordBatch:
    """A batch as ADBC read it → the planned Arrow types (vectorized, per column)."""
    arrays = []
    for values, column in zip(batch.columns, columns, strict=True):
        if column.scaled:
            arrays.append(_unscaled_to_decimal(values, column.type))
            continue
        if isinstance(values.type, pa.BaseExtensionType):
            values = values.storage
        if column.decimal_from_text and values.type != column.type:
            try:
                values = pc.cast(values, column.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(
                    f"column {column.name!r}: a numeric value does not fit {column.type} "
                    f"exactly ({exc}); declare its precision, e.g. CAST(… AS numeric(50, 20)), "
                    "or read unconstrained numerics as text (option unconstrained_numeric)"
                ) from exc
        arrays.append(values)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _unscaled_to_decimal(values: pa.Array, target: pa.DataType) -> pa.Array:
    """int8 values that are a decimal's unscaled integers → that decimal, zero arithmetic.

    Widening to decimal128(19, 0) sign-extends each integer to the 128 bits a decimal128
    holds; the same buffers then read as `target` are the scaled values.
    """
    wide = pc.cast(values, pa.decimal128(19, 0))
    return pa.Array.from_buffers(target, len(wide), wide.buffers(), wide.null_count, wide.offset)


# --- writing ------------------------------------------------------------------------------


def column_type(dt: pa.DataType, key: bool) -> str:
    """The DDL type of an Arrow type: sql.py's table, plus arrays and intervals."""
    if pa.types.is_list(dt) or pa.types.is_large_list(dt):
        item = dt.value_type
        if not pa.types.is_nested(item) and not pa.types.is_dictionary(item):
            return sql.column_type(item, DIALECT) + "[]"
    if pa.types.is_interval(dt):  # months, days and nanoseconds: what an interval holds
        return "interval"
    return sql.column_type(dt, DIALECT, key=key)


_WIRE_BY_NAME: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", "UTC"),
    "interval": pa.month_day_nano_interval(),
    "json": pa.json_(),
    "jsonb": pa.json_(),
    "uuid": pa.uuid(),
}
_TEXT_WIRE = {"text", "varchar", "bpchar", "name"}
_ARRAY_ELEMENTS: dict[pa.DataType, str] = {
    pa.bool_(): "bool",
    pa.int16(): "int2",
    pa.int32(): "int4",
    pa.int64(): "int8",
    pa.float32(): "float4",
    pa.float64(): "float8",
    pa.string(): "text",
    pa.binary(): "bytea",
    pa.date32(): "date",
}


def writable(base: str, enum: bool, arrow: pa.DataType) -> bool:
    """Whether binary COPY can fill a column of this (base) type from `arrow` values.

    ADBC encodes each Arrow type as one PostgreSQL type: text goes to any text type or
    enum, but an inet, a bit string or a varchar[] needs its own binary encoding.
    """
    if enum or base == "numeric" or base in _WIRE_BY_NAME:
        return True
    if base.startswith("_"):
        item = arrow.value_type if pa.types.is_list(arrow) else None
        element = _ARRAY_ELEMENTS.get(item) if item is not None else None
        return element is not None and base == "_" + element
    return False


def wire_type(
    pg_type: str, numeric_precision: int | None, numeric_scale: int | None
) -> pa.DataType | None:
    """The Arrow type binary COPY needs for a column of this type (None: send as it is)."""
    if pg_type == "numeric":
        if numeric_precision is None or numeric_precision > 76:
            return None  # any decimal fits an unconstrained numeric
        p, s = numeric_precision, numeric_scale or 0
        return pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)
    if pg_type.startswith("_"):
        return None  # an array column takes Arrow lists as they are
    return _WIRE_BY_NAME.get(pg_type, pa.string())


def _uuid_bytes(values: pa.Array) -> pa.Array:
    """UUID text (any case, with or without hyphens) → arrow.uuid, in one pass over the text."""
    values = values.cast(pa.string())
    plain = pc.replace_substring(pc.fill_null(values, "0" * 32), "-", "")
    if len(plain) and not pc.all(pc.equal(pc.utf8_length(plain), 32)).as_py():
        raise pa.ArrowInvalid("a value is not a UUID")
    offsets = pa.Array.from_buffers(pa.int32(), 1, [None, plain.buffers()[1]], 0, plain.offset)
    first = offsets[0].as_py() if len(plain) else 0
    text = plain.buffers()[2][first : first + 32 * len(plain)] if len(plain) else b""
    try:
        packed = bytes.fromhex(memoryview(text).tobytes().decode("ascii"))
    except ValueError as exc:
        raise pa.ArrowInvalid("a value is not a UUID") from exc
    validity = values.is_valid().buffers()[1] if values.null_count else None
    storage = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(values), [validity, pa.py_buffer(packed)], values.null_count
    )
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def to_wire(batch: pa.RecordBatch, wire: list[pa.DataType | None]) -> pa.RecordBatch:
    """Cast a batch to the wire types of its target table's columns (cheap when they match)."""
    arrays, fields = [], []
    for values, field, target in zip(batch.columns, batch.schema, wire, strict=True):
        if target is not None and pa.types.is_nested(values.type):
            single = pa.RecordBatch.from_arrays([values], names=[field.name])
            values = sql.nested_to_json(single).column(0)
        if target is not None and values.type != target:
            values = _cast(values, field.name, target)
        arrays.append(values)
        fields.append(pa.field(field.name, values.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _cast(values: pa.Array, name: str, target: pa.DataType) -> pa.Array:
    try:
        if isinstance(target, pa.UuidType) and not isinstance(values.type, pa.UuidType):
            return _uuid_bytes(values)
        if isinstance(target, pa.BaseExtensionType):
            storage = pc.cast(values, target.storage_type)
            return pa.ExtensionArray.from_storage(target, storage)
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        if (
            pa.types.is_timestamp(values.type)
            and pa.types.is_timestamp(target)
            and (values.type.tz is None) != (target.tz is None)
        ):
            values = values.cast(pa.timestamp(values.type.unit, target.tz))
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"column {name!r}: cannot write {values.type} as {target}: {exc}") from exc


def schema_of(columns: list[ReadColumn]) -> pa.Schema:
    """The Arrow schema of batches converted by `convert`."""
    return pa.schema([pa.field(c.name, c.type) for c in columns])
