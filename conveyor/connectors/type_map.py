"""One table of column types: each logical type, and how every destination declares it.

A source connector's column discovery records each column's declared type as a
`Declared`: its logical type (`varchar(200)`, `uuid`, `jsonb`, `decimal(12,2)`, `int32[]`,
…), the source's own spelling and the source's dialect. It travels with the data as
Arrow field metadata (`Declared.metadata`), beside the field's nullability, so a
destination creates the column with the source's type, not with the nearest type of its
Arrow values:

- a destination of the source's own dialect declares the source's spelling verbatim
  (built-in types only; user types such as PostgreSQL enums have no declared type);
- any other destination spells the logical type as `TYPES` says: its exact equivalent
  where it has one, else the documented nearest type that holds every value;
- a column without a declared type (computed by a query, or converted on the way)
  is declared from its Arrow type (`of_arrow`), through the same table.

The "Column types" table of docs/connections.md is `markdown()` of `TYPES` (a test keeps them equal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "DIALECTS",
    "TYPES",
    "Declared",
    "Logical",
    "Spelling",
    "declared",
    "declared_of",
    "fits",
    "logical_of",
    "markdown",
    "of_arrow",
    "parse",
    "spell",
    "spell_logical",
    "with_declared",
]

DIALECTS = ("postgres", "mysql", "duckdb", "sqlite", "parquet")
"""The destinations of the table; `parquet` is the Arrow type a file column gets."""
LOGICAL_KEY = b"conveyor.type"
NATIVE_KEY = b"conveyor.native"
DIALECT_KEY = b"conveyor.dialect"
UTC_MARK = "conveyor:utc"  # MySQL: the comment of DATETIME columns that hold UTC instants


@dataclass(frozen=True)
class Logical:
    """A logical column type: a name of `TYPES`, its arguments, and array nesting."""

    name: str
    args: tuple[str, ...] = ()
    """Length (`varchar`), precision and scale (`decimal`), or labels (`enum`)."""
    dims: int = 0
    """Array dimensions: `int32[]` is int32 with one."""

    def __str__(self) -> str:
        if self.name == "enum":
            args = "(" + ",".join(_quote_label(label) for label in self.args) + ")"
        else:
            args = f"({','.join(self.args)})" if self.args else ""
        return self.name + args + "[]" * self.dims

    @property
    def element(self) -> Logical:
        """The type of an array's elements (the type itself for a scalar)."""
        return Logical(self.name, self.args)


_LOGICAL = re.compile(r"^([a-z][a-z0-9]*)(?:\((.*)\))?((?:\[\])*)$", re.DOTALL)
_LABEL = re.compile(r"'((?:[^']|'')*)'")


def _quote_label(label: str) -> str:
    return "'" + label.replace("'", "''") + "'"


def parse(text: str) -> Logical | None:
    """A logical type from its spelling (`str(Logical)`), or None when it is not one."""
    match = _LOGICAL.match(text.strip())
    if match is None or match.group(1) not in _ROWS:
        return None
    name, args, dims = match.group(1), match.group(2), match.group(3).count("[]")
    if name == "enum":
        labels = tuple(label.replace("''", "'") for label in _LABEL.findall(args or ""))
        return Logical(name, labels, dims)
    values = tuple(a.strip() for a in args.split(",")) if args else ()
    if any(not a.isdigit() for a in values):
        return None
    return Logical(name, values, dims)


@dataclass(frozen=True)
class Declared:
    """A column's declared type as its source knows it (see the module docstring)."""

    logical: Logical | None
    """None: a type `TYPES` does not know, declared verbatim in its own dialect only."""
    native: str = ""
    """The source's spelling, valid DDL in `dialect` (empty: spell the logical type)."""
    dialect: str = ""

    @property
    def metadata(self) -> dict[bytes, bytes]:
        """The Arrow field metadata that carries it."""
        found = {LOGICAL_KEY: str(self.logical).encode()} if self.logical is not None else {}
        if self.native and self.dialect:
            found |= {NATIVE_KEY: self.native.encode(), DIALECT_KEY: self.dialect.encode()}
        return found

    @classmethod
    def from_metadata(cls, metadata: Mapping[bytes, bytes] | None) -> Declared | None:
        """The declared type a field's metadata carries, if any."""
        raw = (metadata or {}).get(LOGICAL_KEY)
        logical = parse(raw.decode()) if raw else None
        native = (metadata or {}).get(NATIVE_KEY, b"").decode()
        dialect = (metadata or {}).get(DIALECT_KEY, b"").decode()
        if logical is None and not (native and dialect):
            return None
        return cls(logical, native, dialect)


def declared_of(field: pa.Field) -> Declared | None:
    """The declared type a field carries, if any."""
    return Declared.from_metadata(field.metadata)


def with_declared(field: pa.Field, declared: Declared | None) -> pa.Field:
    """The field carrying `declared` (none: without any declared type)."""
    kept = {k: v for k, v in (field.metadata or {}).items() if k not in _KEYS}
    if declared is not None:
        kept |= declared.metadata
    return field.with_metadata(kept) if kept or field.metadata else field


_KEYS = (LOGICAL_KEY, NATIVE_KEY, DIALECT_KEY)


# --- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spelling:
    """How one dialect declares a logical type.

    `ddl` is a template over the type's arguments ({n} a length, {p} {s} a precision and
    scale, {labels} an enum's quoted labels); past `limit` (of the first argument) the type
    is `wider`; in a primary key it is `key` when that is set. An empty `ddl` means "as
    its values": the column is declared from its Arrow type.
    """

    ddl: str
    limit: int | None = None
    wider: str = ""
    key: str = ""
    note: str = ""
    verbatim: bool = True
    """False: even a column of this dialect is declared with `ddl`, not its own spelling
    (a type the destination's loader cannot fill)."""

    def render(self, logical: Logical, key: bool) -> str:
        if key and self.key:
            return self.key
        args = logical.args
        if self.limit is not None and args and int(args[0]) > self.limit:
            return self.wider
        if logical.name == "enum":
            return self.ddl.format(labels=", ".join(_quote_label(a) for a in args))
        names = ("p", "s") if logical.name == "decimal" else ("n",)
        return self.ddl.format(**dict(zip(names, args, strict=False)))

    def describe(self) -> str:
        """The spelling as docs/connections.md shows it."""
        if not self.ddl:
            text = "as its values"
        else:
            text = f"`{self.ddl.replace('{', '').replace('}', '')}`"
        extra = []
        if self.limit is not None:
            arg = "p" if "{p}" in self.ddl else "n"
            extra.append(f"{arg} ≤ {self.limit}, else `{self.wider}`")
        if self.key:
            extra.append(f"in a key `{self.key}`")
        if self.note:
            extra.append(self.note)
        return text + (f" ({'; '.join(extra)})" if extra else "")


@dataclass(frozen=True)
class TypeRow:
    """One logical type: its Arrow values and its spelling in each destination."""

    logical: str
    arrow: str
    postgres: Spelling
    mysql: Spelling
    duckdb: Spelling
    sqlite: Spelling
    parquet: Spelling

    def spelling(self, dialect: str) -> Spelling:
        spelling: Spelling = getattr(self, dialect)
        return spelling


def _row(logical: str, arrow: str, *spellings: str | Spelling) -> TypeRow:
    made = [s if isinstance(s, Spelling) else Spelling(s) for s in spellings]
    return TypeRow(logical, arrow, *made)


AS_VALUES = Spelling("")
_MY_TEXT_KEY = "VARCHAR(255)"
_KEPT = Spelling("string", note="`conveyor.type` in the field's metadata")
# fmt: off
TYPES: tuple[TypeRow, ...] = (
    # logical, Arrow values, PostgreSQL, MySQL/MariaDB, DuckDB, SQLite, Parquet
    _row("boolean", "bool", "BOOLEAN", "BOOLEAN", "BOOLEAN", "BOOLEAN", "bool"),
    _row("int8", "int8", "SMALLINT", "TINYINT", "TINYINT", "INTEGER", "int8"),
    _row("int16", "int16", "SMALLINT", "SMALLINT", "SMALLINT", "INTEGER", "int16"),
    _row("int32", "int32", "INTEGER", "INT", "INTEGER", "INTEGER", "int32"),
    _row("int64", "int64", "BIGINT", "BIGINT", "BIGINT", "INTEGER", "int64"),
    _row("uint8", "uint8", "SMALLINT", "TINYINT UNSIGNED", "UTINYINT", "INTEGER", "uint8"),
    _row("uint16", "uint16", "INTEGER", "SMALLINT UNSIGNED", "USMALLINT", "INTEGER", "uint16"),
    _row("uint32", "uint32", "BIGINT", "INT UNSIGNED", "UINTEGER", "INTEGER", "uint32"),
    _row(
        "uint64", "uint64", "NUMERIC(20,0)", "BIGINT UNSIGNED", "UBIGINT",
        "DECIMAL_TEXT(20,0)", "uint64",
    ),
    _row("float32", "float", "REAL", "FLOAT", "FLOAT", "REAL", "float"),
    _row("float64", "double", "DOUBLE PRECISION", "DOUBLE", "DOUBLE", "REAL", "double"),
    _row(
        "decimal(p,s)",
        "decimal128(p,s); decimal256 past 38 digits",
        Spelling("NUMERIC({p},{s})", limit=1000, wider="NUMERIC"),
        Spelling("DECIMAL({p},{s})", limit=65, wider="LONGTEXT", note="scale ≤ 30"),
        Spelling("DECIMAL({p},{s})", limit=38, wider="VARCHAR"),
        Spelling("DECIMAL_TEXT({p},{s})", limit=76, wider="TEXT", note="text affinity"),
        "decimal128(p,s)",
    ),
    _row(
        "numeric",
        "decimal128(38,9), or string (option `unconstrained_numeric`)",
        "NUMERIC", AS_VALUES, AS_VALUES, AS_VALUES, AS_VALUES,
    ),
    _row(
        "text", "string", "TEXT",
        Spelling("LONGTEXT", key=_MY_TEXT_KEY), "VARCHAR", "TEXT", "string",
    ),
    _row(
        "varchar(n)", "string", "VARCHAR({n})",
        Spelling("VARCHAR({n})", limit=255, wider="LONGTEXT"),
        Spelling("VARCHAR", note="no length limit in DuckDB"), "VARCHAR({n})", _KEPT,
    ),
    _row(
        "char(n)", "string", "CHAR({n})",
        Spelling("CHAR({n})", limit=255, wider="LONGTEXT"),
        Spelling("VARCHAR", note="no fixed-length text in DuckDB"), "CHAR({n})", _KEPT,
    ),
    _row(
        "binary", "binary", "BYTEA",
        Spelling("LONGBLOB", key="VARBINARY(255)"), "BLOB", "BLOB", "binary",
    ),
    _row("date", "date32", "DATE", "DATE", "DATE", "DATE", "date32"),
    _row("time", "time64[us]", "TIME", "TIME(6)", "TIME", "TIME", "time64[us]"),
    _row(
        "timestamp", "timestamp[us]", "TIMESTAMP", "DATETIME(6)", "TIMESTAMP", "TIMESTAMP",
        "timestamp[us]",
    ),
    _row(
        "timestamptz",
        "timestamp[us, UTC]",
        "TIMESTAMPTZ",
        Spelling(f"DATETIME(6) COMMENT '{UTC_MARK}'", note="in UTC; the comment marks it zoned"),
        "TIMESTAMPTZ",
        "TIMESTAMP WITH TIME ZONE",
        "timestamp[us, UTC]",
    ),
    _row(
        "interval", "month_day_nano_interval", "INTERVAL", AS_VALUES, "INTERVAL", AS_VALUES,
        AS_VALUES,
    ),
    _row(
        "duration", "duration[us]", "INTERVAL", "BIGINT", "INTERVAL", "INTEGER", "duration[us]"
    ),
    _row(
        "uuid", "string", "UUID",
        Spelling("CHAR(36)", verbatim=False, note="MariaDB's UUID refuses LOAD DATA's bytes"),
        "UUID", "UUID", _KEPT,
    ),
    _row("json", "string", "JSON", "JSON", "JSON", "JSON", _KEPT),
    _row("jsonb", "string", "JSONB", "JSON", "JSON", "JSON", _KEPT),
    _row("inet", "string", "INET", "VARCHAR(43)", "VARCHAR", "TEXT", _KEPT),
    _row("cidr", "string", "CIDR", "VARCHAR(43)", "VARCHAR", "TEXT", _KEPT),
    _row("macaddr", "string", "MACADDR", "VARCHAR(17)", "VARCHAR", "TEXT", _KEPT),
    _row(
        "enum(labels)", "string (MySQL) or dictionary (DuckDB)",
        Spelling("TEXT", note="PostgreSQL enums are named types"),
        "ENUM({labels})", "ENUM({labels})", "TEXT", _KEPT,
    ),
    _row("year", "int16", "SMALLINT", "YEAR", "SMALLINT", "INTEGER", "int16"),
    _row("bit(n)", "MySQL: bool or int64; PostgreSQL: text of 0s and 1s", *[AS_VALUES] * 5),
    _row(
        "T[]", "list<T>", "T[]", Spelling("JSON", note="the array as JSON text"), "T[]",
        Spelling("JSON", note="the array as JSON text"), "list<T>",
    ),
)
# fmt: on
_ROWS: dict[str, TypeRow] = {
    row.logical.split("(")[0]: row for row in TYPES if row.logical != "T[]"
}
_ARRAY_ROW = TYPES[-1]


def spell(declared: Declared, dialect: str, *, key: bool = False) -> str | None:
    """The DDL of a column of `declared` type in `dialect`; None: declare it from its values.

    The source's own spelling where the dialects agree (unless a key needs another type),
    else `TYPES`' spelling. Arrays are spelled element[] where the dialect has arrays.
    """
    logical = declared.logical
    if declared.native and declared.dialect == dialect:
        row = _ROWS.get(logical.name) if logical is not None and not logical.dims else None
        spelling = row.spelling(dialect) if row is not None else None
        if spelling is None or (spelling.verbatim and not (key and spelling.key)):
            return declared.native
    return spell_logical(logical, dialect, key=key) if logical is not None else None


def spell_logical(logical: Logical, dialect: str, *, key: bool = False) -> str | None:
    """`TYPES`' spelling of a logical type in `dialect` (None: as its values)."""
    if dialect == "parquet":
        return None
    if logical.dims:
        array = _ARRAY_ROW.spelling(dialect)
        if array.ddl != "T[]":
            return array.ddl or None
        element = spell_logical(logical.element, dialect)
        return None if element is None else element + "[]" * logical.dims
    row = _ROWS.get(logical.name)
    if row is None:
        return None
    spelling = row.spelling(dialect)
    if not spelling.ddl:
        return None
    return spelling.render(logical, key)


# --- logical types of Arrow values ----------------------------------------------------------

_SIMPLE: dict[pa.DataType, str] = {
    pa.bool_(): "boolean",
    pa.int8(): "int8",
    pa.int16(): "int16",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.uint8(): "uint8",
    pa.uint16(): "uint16",
    pa.uint32(): "uint32",
    pa.uint64(): "uint64",
    pa.float16(): "float32",
    pa.float32(): "float32",
    pa.float64(): "float64",
    pa.date32(): "date",
    pa.date64(): "date",
    pa.month_day_nano_interval(): "interval",
}


def of_arrow(dt: pa.DataType) -> Logical | None:
    """The logical type of Arrow values (None: nested or unknown, declared per dialect)."""
    if pa.types.is_dictionary(dt):
        return of_arrow(dt.value_type)
    if dt in _SIMPLE:
        return Logical(_SIMPLE[dt])
    if pa.types.is_decimal(dt):
        return Logical("decimal", (str(dt.precision), str(dt.scale)))
    if pa.types.is_time(dt):
        return Logical("time")
    if pa.types.is_timestamp(dt):
        return Logical("timestamptz" if dt.tz is not None else "timestamp")
    if pa.types.is_duration(dt):
        return Logical("duration")
    if pa.types.is_binary(dt) or pa.types.is_large_binary(dt) or pa.types.is_fixed_size_binary(dt):
        return Logical("binary")
    if pa.types.is_binary_view(dt):
        return Logical("binary")
    if isinstance(dt, pa.BaseExtensionType):
        if dt.extension_name == "arrow.uuid":
            return Logical("uuid")
        if dt.extension_name == "arrow.json":
            return Logical("json")
        return of_arrow(dt.storage_type)
    if pa.types.is_nested(dt):
        return None
    return Logical("text")  # strings, nulls, anything else


# --- logical types of declared types -------------------------------------------------------

# fmt: off
_NAMES: dict[str, str] = {
    "bool": "boolean", "boolean": "boolean",
    "tinyint": "int8", "int1": "int8", "smallint": "int16", "int2": "int16",
    "mediumint": "int32", "int": "int32", "integer": "int32", "int4": "int32",
    "bigint": "int64", "int8": "int64",
    "utinyint": "uint8", "usmallint": "uint16", "uinteger": "uint32", "ubigint": "uint64",
    "float4": "float32", "float": "float32", "real": "float32",
    "double": "float64", "double precision": "float64", "float8": "float64",
    "decimal": "decimal", "numeric": "decimal", "decimal_text": "decimal",
    "text": "text", "tinytext": "text", "mediumtext": "text", "longtext": "text",
    "string": "text", "character varying": "varchar", "varchar": "varchar",
    "character": "char", "char": "char", "bpchar": "char",
    "bytea": "binary", "blob": "binary", "tinyblob": "binary", "mediumblob": "binary",
    "longblob": "binary", "varbinary": "binary", "binary": "binary",
    "date": "date", "time": "time", "time without time zone": "time",
    "datetime": "timestamp", "timestamp": "timestamp",
    "timestamp without time zone": "timestamp",
    "timestamptz": "timestamptz", "timestamp with time zone": "timestamptz",
    "interval": "interval", "uuid": "uuid", "json": "json", "jsonb": "jsonb",
    "inet": "inet", "cidr": "cidr", "macaddr": "macaddr", "year": "year", "bit": "bit",
    "enum": "enum",
}
# fmt: on
_DECLARATION = re.compile(
    r"^([a-z_]+(?: [a-z]+)*?)\s*(?:\((.*)\))?\s*(unsigned)?\s*(?:zerofill)?"
    r"\s*((?:with|without) time zone)?$",
    re.DOTALL,
)
_PRECISION = re.compile(r"^(time|timestamp)\(\d+\)")


def logical_of(dialect: str, native: str) -> Logical | None:
    """The logical type of a column declared `native` in `dialect` (None: not in `TYPES`)."""
    text, dims = native.strip(), 0
    while text.endswith("[]"):
        text, dims = text[:-2].rstrip(), dims + 1
    lowered = _PRECISION.sub(r"\1", text.lower())  # time(3) … keeps its precision natively
    if lowered.startswith("enum("):
        return Logical("enum", tuple(a.replace("''", "'") for a in _LABEL.findall(text)), dims)
    match = _DECLARATION.match(lowered)
    if match is None:
        return None
    base, args, unsigned, zone = match.groups()
    name = _NAMES.get(f"{base} {zone}" if zone else base)
    if name is None:
        return None
    values = tuple(a.strip() for a in (args or "").split(",") if a.strip())
    if any(not a.isdigit() for a in values):
        return None
    if dialect == "sqlite" and name.startswith(("int", "float")):
        name = "int64" if name.startswith("int") else "float64"  # how SQLite reads them
    elif dialect == "mysql":
        if name == "timestamp" and base == "timestamp":
            name = "timestamptz"  # MySQL's TIMESTAMP is an instant
        elif name == "int8" and values == ("1",):
            name = "boolean"  # TINYINT(1)
        elif name == "float32" and base in ("real", "double"):
            name = "float64"
        if unsigned and name.startswith("int"):
            name = "u" + name
        if name.startswith(("int", "uint")):
            values = ()  # a display width
    if name in ("int8", "int16", "int32", "int64") or name.startswith(("uint", "float")):
        values = ()
    if name == "decimal":
        if not values:
            return Logical("numeric", (), dims)
        values = (values[0], values[1] if len(values) > 1 else "0")
    elif name in ("varchar", "char"):
        if not values:
            return (
                Logical("text" if name == "varchar" else "char", ("1",), dims)
                if (name == "char" and dialect in ("postgres", "mysql"))
                else Logical("text", (), dims)
            )
        values = values[:1]
    elif name == "bit":
        values = values[:1] or ("1",)
    else:
        values = ()
    return Logical(name, values, dims)


_STRINGS = {"text", "varchar", "char", "uuid", "json", "jsonb", "inet", "cidr", "macaddr", "enum"}


def fits(logical: Logical, dt: pa.DataType) -> bool:
    """Whether Arrow values of type `dt` are what a column of `logical` type reads as."""
    if pa.types.is_dictionary(dt):
        dt = dt.value_type
    if logical.dims:
        if not (pa.types.is_list(dt) or pa.types.is_large_list(dt)):
            return False
        return fits(Logical(logical.name, logical.args, logical.dims - 1), dt.value_type)
    if logical.name in _STRINGS:
        return bool(pa.types.is_string(dt) or pa.types.is_large_string(dt))
    if logical.name == "numeric":
        return bool(pa.types.is_decimal(dt) or pa.types.is_string(dt))
    if logical.name == "year":
        return bool(pa.types.is_integer(dt))
    if logical.name == "bit":
        return True
    if logical.name in ("time", "timestamp", "timestamptz", "binary", "float32", "date"):
        return of_arrow(dt) == Logical(logical.name) or (
            logical.name == "float32" and pa.types.is_float64(dt)
        )
    return of_arrow(dt) == logical


def declared(
    dialect: str, native: str, dt: pa.DataType, *, verbatim: bool = True
) -> Declared | None:
    """A discovered column's declared type: its logical type where its values fit it.

    `verbatim`: whether `native` may be declared as it is in `dialect` (built-in types).
    """
    logical = logical_of(dialect, native)
    if logical is not None and not fits(logical, dt):
        logical = None
    if logical is None and not verbatim:
        return None
    return Declared(logical, native if verbatim else "", dialect if verbatim else "")


# --- the documented table ----------------------------------------------------------------

_HEADERS = ("logical type", "Arrow values", "PostgreSQL", "MySQL / MariaDB", "DuckDB", "SQLite")


def markdown() -> str:
    """`TYPES` as the Markdown table of docs/connections.md."""
    lines = [
        "| " + " | ".join((*_HEADERS, "Parquet")) + " |",
        "|" + "---|" * (len(_HEADERS) + 1),
    ]
    for row in TYPES:
        cells = [f"`{row.logical}`", row.arrow]
        for dialect in DIALECTS:
            spelling = row.spelling(dialect)
            if dialect == "parquet":
                cells.append(
                    spelling.ddl + (f" ({spelling.note})" if spelling.note else "")
                    if spelling.ddl
                    else "as its values"
                )
            else:
                cells.append(spelling.describe())
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
