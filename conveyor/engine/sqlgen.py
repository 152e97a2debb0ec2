"""The SQL of the replication modes, built with sqlglot for each destination's dialect.

Merges, deletes of rows gone from the source, soft deletes, history versions and
window replacement are all a few portable statements run in one transaction on the
destination. Names are quoted by sqlglot; values are typed literals, never pasted text.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef, TableSchema

DELETED = "_conveyor_deleted"
ACTIVE = "_conveyor_active"
START = "_conveyor_start"
END = "_conveyor_end"
HISTORY_COLUMNS = (ACTIVE, START, END)
STAGED = "__conveyor_staged"
KEYS = "__conveyor_keys"


_MYSQL_DATETIME = exp.DataType.build("DATETIME(6)", dialect="mysql")


def literal(value: Any, dialect: str) -> exp.Expr:
    """A typed SQL literal for a cursor or timestamp value in `dialect`.

    SQLite has no timestamp type: its timestamps are ISO text, compared as text, so the
    literal is text in the form the SQLite connector writes. MySQL's CAST(… AS DATETIME)
    drops the fraction of a second, so the cast names its precision.
    """
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | decimal.Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, dt.datetime):
        zoned = value.tzinfo is not None
        if zoned:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        text = value.isoformat(sep="T" if dialect == "sqlite" else " ", timespec="microseconds")
        if dialect == "sqlite":
            return exp.Literal.string(text)
        if dialect == "mysql":  # zoned values are compared as UTC: MySQL sessions run in UTC
            return exp.cast(exp.Literal.string(text), _MYSQL_DATETIME)
        if zoned:
            return exp.cast(exp.Literal.string(text + "+00:00"), "TIMESTAMPTZ")
        return exp.cast(exp.Literal.string(text), "TIMESTAMP")
    if isinstance(value, dt.date):
        if dialect == "sqlite":
            return exp.Literal.string(value.isoformat())
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))


def comparable(column: exp.Expr, arrow_type: pa.DataType | None, dialect: str) -> exp.Expr:
    """A column as it compares with `literal`: SQLite's text timestamps through julianday()."""
    if (
        dialect == "sqlite"
        and arrow_type is not None
        and (pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type))
    ):
        return exp.func("julianday", column)
    return column


def compare(
    column: exp.Expr, op: str, value: Any, arrow_type: pa.DataType | None, dialect: str
) -> exp.Expr:
    """`column <op> value` with both sides comparable in `dialect` (op: >=, >, <)."""
    left = comparable(column, arrow_type, dialect)
    right: exp.Expr = literal(value, dialect)
    kinds = {">=": exp.GTE, ">": exp.GT, "<": exp.LT, "<=": exp.LTE}
    if left is column:
        return kinds[op](this=left, expression=right)
    precise = kinds[op](this=left, expression=exp.func("julianday", right))
    if op in (">=", ">") and isinstance(value, dt.date):
        # ISO text sorts like time: a day-prefix bound lets SQLite use an index on the column
        day = (
            value.astimezone(dt.UTC).date()
            if isinstance(value, dt.datetime) and value.tzinfo
            else value
        )
        day = day.date() if isinstance(day, dt.datetime) else day
        coarse = exp.GTE(this=column.copy(), expression=exp.Literal.string(day.isoformat()))
        return exp.and_(coarse, precise)
    return precise


def _keys_match(keys: Sequence[str], left: TableRef | str, right: TableRef | str) -> exp.Expr:
    return exp.and_(
        *(exp.EQ(this=sql.column(k, left), expression=sql.column(k, right)) for k in keys)
    )


def insert_from(
    staging: TableRef,
    target: TableRef,
    columns: Sequence[str],
    dialect: str,
    extra: dict[str, exp.Expr] | None = None,
    where: exp.Expr | None = None,
) -> str:
    """INSERT INTO target (cols, extra…) SELECT cols, extra values FROM staging [WHERE …]."""
    extra = extra or {}
    select = exp.select(
        *(sql.column(c, STAGED) for c in columns),
        *(exp.alias_(v, k, quoted=True) for k, v in extra.items()),
    ).from_(sql.table_expr(staging, STAGED))
    if where is not None:
        select = select.where(where)
    names = [sql.identifier(c) for c in (*columns, *extra)]
    return exp.insert(select, sql.table_expr(target), columns=names).sql(dialect=dialect)


def upsert(
    staging: TableRef, target: TableRef, keys: Sequence[str], columns: Sequence[str], dialect: str
) -> str:
    """INSERT … ON CONFLICT (keys) DO UPDATE: a merge by index probes, for targets keyed on `keys`.

    Cheaper than delete-and-insert when few rows change in a big table: only the staged
    keys are looked up. MySQL and MariaDB spell it ON DUPLICATE KEY UPDATE. DuckDB gets
    MERGE INTO, which matches by the join condition and so needs no key constraint.
    """
    target_sql = sql.table_sql(target, dialect)
    names = ", ".join(sql.quote(c, dialect) for c in columns)
    others = [c for c in columns if c not in keys]
    select = (
        exp.select(*(sql.column(c) for c in columns))
        .from_(sql.table_expr(staging))
        .sql(dialect=dialect)
    )
    if dialect == "mysql":
        sets = ", ".join(
            f"{sql.quote(c, dialect)} = VALUES({sql.quote(c, dialect)})" for c in others or keys[:1]
        )
        return f"INSERT INTO {target_sql} ({names}) {select} ON DUPLICATE KEY UPDATE {sets}"
    if dialect in MERGES_BY_JOIN:
        return _merge_into(staging, target, keys, columns, dialect)
    conflict = ", ".join(sql.quote(k, dialect) for k in keys)
    action = (
        "DO UPDATE SET "
        + ", ".join(f"{sql.quote(c, dialect)} = excluded.{sql.quote(c, dialect)}" for c in others)
        if others
        else "DO NOTHING"
    )
    where = (
        " WHERE true" if dialect == "sqlite" else ""
    )  # SQLite needs it to parse ON CONFLICT after SELECT
    return f"INSERT INTO {target_sql} ({names}) {select}{where} ON CONFLICT ({conflict}) {action}"


UPSERT_DIALECTS = frozenset({"duckdb", "postgres", "sqlite", "mysql"})
MERGES_BY_JOIN = frozenset({"duckdb"})  # their upsert needs no unique constraint on the key


def _merge_into(
    staging: TableRef, target: TableRef, keys: Sequence[str], columns: Sequence[str], dialect: str
) -> str:
    """MERGE INTO target USING staging ON keys: update matched rows, insert the others."""
    others = [c for c in columns if c not in keys]
    whens = []
    if others:
        sets = [exp.EQ(this=sql.column(c), expression=sql.column(c, STAGED)) for c in others]
        whens.append(exp.When(matched=True, then=exp.Update(expressions=sets)))
    insert = exp.Insert(
        this=exp.Tuple(expressions=[sql.column(c) for c in columns]),
        expression=exp.Tuple(expressions=[sql.column(c, STAGED) for c in columns]),
    )
    whens.append(exp.When(matched=False, then=insert))
    return exp.Merge(
        this=sql.table_expr(target),
        using=sql.table_expr(staging, STAGED),
        on=_keys_match(keys, target, STAGED),
        whens=exp.Whens(expressions=whens),
    ).sql(dialect=dialect)


def duplicate_key(staging: TableRef, keys: Sequence[str], dialect: str) -> str:
    """One key value that more than one staged row has (no row when keys are unique)."""
    grouped = [sql.column(k) for k in keys]
    return (
        exp.select(*grouped)
        .from_(sql.table_expr(staging))
        .group_by(*grouped)
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
        .limit(1)
        .sql(dialect=dialect)
    )


def delete_matching(staging: TableRef, target: TableRef, keys: Sequence[str], dialect: str) -> str:
    """DELETE the target rows whose key is staged (the first half of a merge)."""
    staged = (
        exp.select("1")
        .from_(sql.table_expr(staging, STAGED))
        .where(_keys_match(keys, target, STAGED))
    )
    return exp.delete(sql.table_expr(target), where=exp.Exists(this=staged)).sql(dialect=dialect)


def _missing(target: TableRef, keys_table: TableRef, keys: Sequence[str]) -> exp.Expr:
    present = (
        exp.select("1")
        .from_(sql.table_expr(keys_table, KEYS))
        .where(_keys_match(keys, target, KEYS))
    )
    return exp.Not(this=exp.Exists(this=present))


def delete_missing(
    target: TableRef, keys_table: TableRef, keys: Sequence[str], dialect: str
) -> str:
    """DELETE target rows whose key the source no longer has (hard delete)."""
    return exp.delete(sql.table_expr(target), where=_missing(target, keys_table, keys)).sql(
        dialect=dialect
    )


def update(target: TableRef, values: dict[str, exp.Expr], where: exp.Expr, dialect: str) -> str:
    """UPDATE target SET … WHERE …."""
    assignments = [exp.EQ(this=sql.column(k), expression=v) for k, v in values.items()]
    return exp.Update(
        this=sql.table_expr(target), expressions=assignments, where=exp.Where(this=where)
    ).sql(dialect=dialect)


def flag_missing(target: TableRef, keys_table: TableRef, keys: Sequence[str], dialect: str) -> str:
    """Mark target rows whose key the source no longer has as deleted (soft delete)."""
    live = exp.EQ(this=sql.column(DELETED, target), expression=exp.false())
    return update(
        target, {DELETED: exp.true()}, exp.and_(live, _missing(target, keys_table, keys)), dialect
    )


def close_missing(
    target: TableRef, keys_table: TableRef, keys: Sequence[str], now: Any, dialect: str
) -> str:
    """History mode: end the active version of rows the source no longer has."""
    active = exp.EQ(this=sql.column(ACTIVE, target), expression=exp.true())
    values = {ACTIVE: exp.false(), END: literal(now, dialect)}
    return update(target, values, exp.and_(active, _missing(target, keys_table, keys)), dialect)


def close_changed(
    staging: TableRef,
    target: TableRef,
    keys: Sequence[str],
    compared: Sequence[str],
    now: Any,
    dialect: str,
) -> str:
    """History mode: end the active version of rows whose staged values differ."""
    differs = (
        exp.or_(
            *(
                exp.Not(
                    this=exp.NullSafeEQ(
                        this=sql.column(c, target), expression=sql.column(c, STAGED)
                    )
                )
                for c in compared
            )
        )
        if compared
        else exp.false()
    )
    changed = (
        exp.select("1")
        .from_(sql.table_expr(staging, STAGED))
        .where(exp.and_(_keys_match(keys, target, STAGED), differs))
    )
    active = exp.EQ(this=sql.column(ACTIVE, target), expression=exp.true())
    values = {ACTIVE: exp.false(), END: literal(now, dialect)}
    return update(target, values, exp.and_(active, exp.Exists(this=changed)), dialect)


def insert_new_versions(
    staging: TableRef, target: TableRef, keys: Sequence[str], columns: Sequence[str], dialect: str
) -> str:
    """History mode: insert a version for every staged row that has no active version.

    Staged rows already carry their bookkeeping: active, starting now, no end.
    """
    has_active = (
        exp.select("1")
        .from_(sql.table_expr(target))
        .where(
            exp.and_(
                _keys_match(keys, target, STAGED),
                exp.EQ(this=sql.column(ACTIVE, target), expression=exp.true()),
            )
        )
    )
    return insert_from(
        staging, target, columns, dialect, where=exp.Not(this=exp.Exists(this=has_active))
    )


def delete_window(
    target: TableRef, column: str, cursor: Any, arrow_type: pa.DataType, dialect: str
) -> str:
    """DELETE target rows at or past the cursor: the window an append re-reads."""
    where = compare(sql.column(column, target), ">=", cursor, arrow_type, dialect)
    return exp.delete(sql.table_expr(target), where=where).sql(dialect=dialect)


def delete_all(target: TableRef, dialect: str) -> str:
    """DELETE every row (truncate_table_data, transactional everywhere unlike TRUNCATE)."""
    return exp.delete(sql.table_expr(target)).sql(dialect=dialect)


def add_column(target: TableRef, name: str, type_sql: str, dialect: str) -> str:
    """ALTER TABLE … ADD COLUMN …."""
    return f"ALTER TABLE {sql.table_sql(target, dialect)} ADD COLUMN {sql.quote(name, dialect)} {type_sql}"


def widen_column(
    target: TableRef, name: str, type_sql: str, dialect: str, *, key: bool = False
) -> str | None:
    """ALTER a column to a wider type; None when only a rebuild of the table can change it.

    SQLite cannot alter a column's type at all, and DuckDB cannot alter one that is part
    of a primary key: both get the table re-created with the new layout (`rebuild`).
    """
    table, column = sql.table_sql(target, dialect), sql.quote(name, dialect)
    if dialect == "sqlite" or (dialect == "duckdb" and key):
        return None
    if dialect == "mysql":
        return f"ALTER TABLE {table} MODIFY COLUMN {column} {type_sql}"
    if dialect == "postgres":
        return f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {type_sql}"
    return f"ALTER TABLE {table} ALTER {column} TYPE {type_sql}"


def rebuild(target: TableRef, layout: TableSchema, dialect: str) -> list[str]:
    """Statements re-creating `target` with the layout's column types, its rows kept."""
    fresh = target.with_name(target.name + "__conveyor_rebuild")
    names = [c.name for c in layout.columns]
    return [
        sql.drop_table_sql(fresh, dialect),
        sql.create_table_sql(fresh, layout, dialect),
        sql.insert_select_sql(target, fresh, names, dialect),
        *sql.replace_statements(fresh, target, dialect),
    ]
