"""SQL every SQL connector needs: quoting, DDL types, the statements that create, swap,
count and drop tables, running statements in one transaction, and naming the table a query
reads in error messages.

Identifiers are always quoted through sqlglot for the target dialect, and statements that
move rows are built as sqlglot expressions, so no table or column name is ever pasted into
SQL unquoted. The type tables cover SQLite, DuckDB, PostgreSQL and MySQL. What the engine
runs on a destination (merges, deletes, history, schema changes) is `conveyor.engine.sql`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import sqlglot
from sqlglot import exp

from conveyor.connectors.base import TableRef, TableSchema
from conveyor.errors import Unsupported


def identifier(name: str) -> exp.Identifier:
    """A quoted identifier expression for a table, column or schema name."""
    return exp.to_identifier(name, quoted=True)


def quote(name: str, dialect: str) -> str:
    """A name quoted for `dialect`, with embedded quote characters escaped."""
    return identifier(name).sql(dialect=dialect)


def table_expr(table: TableRef, alias: str | None = None) -> exp.Table:
    """A (schema-qualified) table expression, optionally aliased."""
    schema = identifier(table.schema) if table.schema else None
    expression = exp.table_(identifier(table.name), db=schema)
    if alias:
        expression.set("alias", exp.TableAlias(this=identifier(alias)))
    return expression


def table_sql(table: TableRef, dialect: str) -> str:
    """A table name quoted (and schema-qualified) for `dialect`."""
    return table_expr(table).sql(dialect=dialect)


def column(name: str, table: TableRef | str | None = None) -> exp.Column:
    """A quoted column reference, qualified by a table or an alias when given."""
    if isinstance(table, TableRef):
        schema = identifier(table.schema) if table.schema else None
        return exp.column(identifier(name), table=identifier(table.name), db=schema)
    return exp.column(identifier(name), table=identifier(table) if table else None)


# --- Arrow type → DDL type ----------------------------------------------------------------


@dataclass(frozen=True)
class DialectTypes:
    """How one SQL dialect spells the column type of each Arrow type."""

    boolean: str
    ints: tuple[str, str, str, str]  # int8, int16, int32, int64
    uints: tuple[str, str, str, str]  # uint8, uint16, uint32, uint64
    float32: str
    float64: str
    decimal: str  # format with {p} and {s}
    max_precision: int  # wider decimals are stored as text
    text: str
    binary: str
    date: str
    time: str
    timestamp: str
    timestamptz: str
    json: str
    duration: str
    key_text: str = ""  # text type usable in a primary key, when `text` is not

    def __post_init__(self) -> None:
        if not self.key_text:
            object.__setattr__(self, "key_text", self.text)


DIALECT_TYPES: dict[str, DialectTypes] = {
    # SQLite: DECIMAL(p,s) would have NUMERIC affinity, which turns "1.5" into a lossy REAL;
    # DECIMAL_TEXT(p,s) has TEXT affinity, so exact decimal strings are stored as written.
    "sqlite": DialectTypes(
        boolean="BOOLEAN",
        ints=("INTEGER",) * 4,
        uints=("INTEGER", "INTEGER", "INTEGER", "DECIMAL_TEXT(20,0)"),
        float32="REAL",
        float64="REAL",
        decimal="DECIMAL_TEXT({p},{s})",
        max_precision=76,
        text="TEXT",
        binary="BLOB",
        date="DATE",
        time="TIME",
        timestamp="TIMESTAMP",
        timestamptz="TIMESTAMP WITH TIME ZONE",
        json="JSON",
        duration="INTEGER",
    ),
    "duckdb": DialectTypes(
        boolean="BOOLEAN",
        ints=("TINYINT", "SMALLINT", "INTEGER", "BIGINT"),
        uints=("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"),
        float32="FLOAT",
        float64="DOUBLE",
        decimal="DECIMAL({p},{s})",
        max_precision=38,
        text="VARCHAR",
        binary="BLOB",
        date="DATE",
        time="TIME",
        timestamp="TIMESTAMP",
        timestamptz="TIMESTAMPTZ",
        json="JSON",
        duration="INTERVAL",
    ),
    "postgres": DialectTypes(
        boolean="BOOLEAN",
        ints=("SMALLINT", "SMALLINT", "INTEGER", "BIGINT"),
        uints=("SMALLINT", "INTEGER", "BIGINT", "NUMERIC(20,0)"),
        float32="REAL",
        float64="DOUBLE PRECISION",
        decimal="NUMERIC({p},{s})",
        max_precision=1000,
        text="TEXT",
        binary="BYTEA",
        date="DATE",
        time="TIME",
        timestamp="TIMESTAMP",
        timestamptz="TIMESTAMPTZ",
        json="JSONB",
        duration="INTERVAL",
    ),
    "mysql": DialectTypes(
        boolean="BOOLEAN",
        ints=("TINYINT", "SMALLINT", "INT", "BIGINT"),
        uints=("TINYINT UNSIGNED", "SMALLINT UNSIGNED", "INT UNSIGNED", "BIGINT UNSIGNED"),
        float32="FLOAT",
        float64="DOUBLE",
        decimal="DECIMAL({p},{s})",
        max_precision=65,
        text="LONGTEXT",
        binary="LONGBLOB",
        date="DATE",
        time="TIME(6)",
        timestamp="DATETIME(6)",
        timestamptz="DATETIME(6)",  # stored in UTC: MySQL has no zoned type
        json="JSON",
        duration="BIGINT",
        key_text="VARCHAR(255)",
    ),
}

_DUCKDB_TIMESTAMPS = {
    "s": "TIMESTAMP_S",
    "ms": "TIMESTAMP_MS",
    "us": "TIMESTAMP",
    "ns": "TIMESTAMP_NS",
}
_INT_WIDTHS = {8: 0, 16: 1, 32: 2, 64: 3}


def column_type(dt: pa.DataType, dialect: str, *, key: bool = False) -> str:
    """The DDL type that holds values of Arrow type `dt` in `dialect` without loss."""
    types = DIALECT_TYPES.get(dialect)
    if types is None:
        raise Unsupported(f"no column types known for SQL dialect {dialect!r}")
    if pa.types.is_dictionary(dt):
        return column_type(dt.value_type, dialect, key=key)
    if pa.types.is_boolean(dt):
        return types.boolean
    if pa.types.is_integer(dt):
        position = _INT_WIDTHS[dt.bit_width]
        return types.uints[position] if pa.types.is_unsigned_integer(dt) else types.ints[position]
    if pa.types.is_float16(dt) or pa.types.is_float32(dt):
        return types.float32
    if pa.types.is_floating(dt):
        return types.float64
    if pa.types.is_decimal(dt):
        if dt.precision > types.max_precision:
            return types.key_text if key else types.text
        return types.decimal.format(p=dt.precision, s=dt.scale)
    if pa.types.is_date(dt):
        return types.date
    if pa.types.is_time(dt):
        return types.time
    if pa.types.is_timestamp(dt):
        if dialect == "sqlite" and dt.unit == "ns":  # read back as timestamp[ns]
            return "TIMESTAMP(9) WITH TIME ZONE" if dt.tz is not None else "TIMESTAMP(9)"
        if dt.tz is not None:
            return types.timestamptz
        return _DUCKDB_TIMESTAMPS[dt.unit] if dialect == "duckdb" else types.timestamp
    if pa.types.is_duration(dt):
        return types.duration
    if pa.types.is_binary(dt) or pa.types.is_large_binary(dt) or pa.types.is_fixed_size_binary(dt):
        return types.binary
    if dialect == "duckdb" and _is_nested(dt):
        return _duckdb_nested(dt)
    if _is_nested(dt):
        return types.json
    return types.key_text if key else types.text  # strings, nulls, anything else as text


def _is_nested(dt: pa.DataType) -> bool:
    return bool(pa.types.is_nested(dt))


def _duckdb_nested(dt: pa.DataType) -> str:
    if pa.types.is_list(dt) or pa.types.is_large_list(dt) or pa.types.is_fixed_size_list(dt):
        return column_type(dt.value_type, "duckdb") + "[]"
    if pa.types.is_map(dt):
        key, item = column_type(dt.key_type, "duckdb"), column_type(dt.item_type, "duckdb")
        return f"MAP({key}, {item})"
    if pa.types.is_struct(dt):
        fields = (f"{quote(f.name, 'duckdb')} {column_type(f.type, 'duckdb')}" for f in dt)
        return "STRUCT(" + ", ".join(fields) + ")"
    return "JSON"


# --- statements ---------------------------------------------------------------------------


def create_table_sql(
    table: TableRef,
    layout: TableSchema,
    dialect: str,
    type_sql: Callable[[pa.DataType, bool], str] | None = None,
) -> str:
    """CREATE TABLE with the layout's columns, NOT NULL where required, and its primary key."""
    keys = set(layout.primary_key)
    definitions = []
    for col in layout.columns:
        is_key = col.name in keys
        ddl = type_sql(col.type, is_key) if type_sql else column_type(col.type, dialect, key=is_key)
        not_null = " NOT NULL" if is_key or not col.nullable else ""
        definitions.append(f"{quote(col.name, dialect)} {ddl}{not_null}")
    if layout.primary_key:
        names = ", ".join(quote(k, dialect) for k in layout.primary_key)
        definitions.append(f"PRIMARY KEY ({names})")
    return f"CREATE TABLE {table_sql(table, dialect)} (" + ", ".join(definitions) + ")"


def drop_table_sql(table: TableRef, dialect: str) -> str:
    """DROP TABLE IF EXISTS."""
    return exp.Drop(tables=[table_expr(table)], kind="TABLE", exists=True).sql(dialect=dialect)


def rename_table_sql(table: TableRef, new_name: str, dialect: str) -> str:
    """ALTER TABLE … RENAME TO …, within the table's schema."""
    return f"ALTER TABLE {table_sql(table, dialect)} RENAME TO {quote(new_name, dialect)}"


def replace_statements(staging: TableRef, target: TableRef, dialect: str) -> list[str]:
    """Swap `staging` in as `target`; run them in one transaction (transactional DDL)."""
    return [drop_table_sql(target, dialect), rename_table_sql(staging, target.name, dialect)]


def count_sql(table: TableRef, dialect: str) -> str:
    """SELECT COUNT(*) FROM table."""
    return exp.select(exp.Count(this=exp.Star())).from_(table_expr(table)).sql(dialect=dialect)


def select_sql(
    table: TableRef, columns: Sequence[str] | None, dialect: str, limit: int | None = None
) -> str:
    """SELECT the given columns (or *) FROM table [LIMIT n]."""
    projection = [column(c) for c in columns] if columns else [exp.Star()]
    select = exp.select(*projection).from_(table_expr(table))
    return (select.limit(limit) if limit is not None else select).sql(dialect=dialect)


def insert_select_sql(
    source: TableRef, target: TableRef, columns: Sequence[str], dialect: str
) -> str:
    """INSERT INTO target (cols) SELECT cols FROM source."""
    select = exp.select(*(column(c) for c in columns)).from_(table_expr(source))
    return exp.insert(select, table_expr(target), columns=[identifier(c) for c in columns]).sql(
        dialect=dialect
    )


def source_label(query: str, dialect: str) -> str:
    """The first table a query reads, for error messages ("query" when it names none)."""
    try:
        table = next(sqlglot.parse_one(query, dialect=dialect).find_all(exp.Table), None)
    except sqlglot.errors.ParseError:
        table = None
    return table.name if table is not None else "query"


def run_in_transaction(
    execute: Callable[[str], object], statements: Sequence[str], begin: str = "BEGIN"
) -> None:
    """Run statements between BEGIN and COMMIT on an autocommit connection; roll back on error."""
    execute(begin)
    try:
        for statement in statements:
            execute(statement)
    except BaseException:
        execute("ROLLBACK")
        raise
    execute("COMMIT")


# --- values SQL databases cannot hold natively --------------------------------------------


def nested_to_json(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Replace list/struct/map columns by their JSON text, computed by DuckDB, vectorized."""
    nested = [i for i, f in enumerate(batch.schema) if _is_nested(f.type)]
    if not nested:
        return batch
    import duckdb  # only here: loading DuckDB costs a tenth of a second at every start

    con = duckdb.connect()
    try:
        con.register("__conveyor_batch", pa.Table.from_batches([batch.select(nested)]))
        for i in nested:
            name = batch.schema.field(i).name
            json_text = exp.cast(exp.func("to_json", column(name)), "VARCHAR")
            query = exp.select(json_text).from_("__conveyor_batch").sql(dialect="duckdb")
            values = con.sql(query).to_arrow_table().column(0).combine_chunks()
            batch = batch.set_column(i, pa.field(name, pa.string()), values)
    finally:
        con.close()
    return batch
