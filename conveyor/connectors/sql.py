"""SQL every SQL connector needs: quoting, DDL types, the statements that create, swap,
count and drop tables, running statements in one transaction, and naming the table a query
reads in error messages.

Identifiers are always quoted through sqlglot for the target dialect, and statements that
move rows are built as sqlglot expressions, so no table or column name is ever pasted into
SQL unquoted. Column types are `type_map`'s table (SQLite, DuckDB, PostgreSQL, MySQL). What the engine
runs on a destination (merges, deletes, history, schema changes) is `conveyor.engine.sql`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa
import sqlglot
from sqlglot import exp

from conveyor.connectors import type_map
from conveyor.connectors.base import ColumnInfo, TableRef, TableSchema
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


SQL_DIALECTS = ("sqlite", "duckdb", "postgres", "mysql")
_DUCKDB_TIMESTAMPS = {
    "s": "TIMESTAMP_S",
    "ms": "TIMESTAMP_MS",
    "us": "TIMESTAMP",
    "ns": "TIMESTAMP_NS",
}


def column_type(dt: pa.DataType, dialect: str, *, key: bool = False) -> str:
    """The DDL type that holds values of Arrow type `dt` in `dialect` without loss.

    `type_map.TYPES` spells the logical type of the values; nested values are DuckDB's
    own nested types, or JSON elsewhere (the logical type `jsonb`: JSONB in PostgreSQL),
    and values of no logical type are `text`.
    """
    if dialect not in SQL_DIALECTS:
        raise Unsupported(f"no column types known for SQL dialect {dialect!r}")
    if pa.types.is_dictionary(dt):
        return column_type(dt.value_type, dialect, key=key)
    if pa.types.is_timestamp(dt):
        if dialect == "sqlite" and dt.unit == "ns":  # read back as timestamp[ns]
            return "TIMESTAMP(9) WITH TIME ZONE" if dt.tz is not None else "TIMESTAMP(9)"
        if dialect == "duckdb" and dt.tz is None:
            return _DUCKDB_TIMESTAMPS[dt.unit]
    if _is_nested(dt):
        return _duckdb_nested(dt) if dialect == "duckdb" else _spelled("jsonb", dialect)
    logical = type_map.of_arrow(dt)
    ddl = type_map.spell_logical(logical, dialect, key=key) if logical is not None else None
    ddl = ddl or _spelled("text", dialect)
    if key and dialect == "mysql" and ddl == "LONGTEXT":
        return "VARCHAR(255)"  # a key needs a bounded length
    return ddl


def declared_type(
    col: ColumnInfo,
    dialect: str,
    key: bool,
    type_sql: Callable[[pa.DataType, bool], str] | None = None,
) -> str:
    """A column's DDL type: its declared type as `type_map` spells it, else its values'."""
    if col.declared is not None:
        spelled = type_map.spell(col.declared, dialect, key=key)
        if spelled is not None:
            return spelled
    return type_sql(col.type, key) if type_sql else column_type(col.type, dialect, key=key)


def _spelled(name: str, dialect: str) -> str:
    """`type_map.TYPES`' spelling of a logical type that every SQL dialect declares."""
    ddl = type_map.spell_logical(type_map.Logical(name), dialect)
    if ddl is None:
        raise Unsupported(f"no {name} column type known for SQL dialect {dialect!r}")
    return ddl


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
        ddl = declared_type(col, dialect, is_key, type_sql)
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
