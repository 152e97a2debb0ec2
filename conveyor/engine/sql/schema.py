"""Schema changes: columns added, and widened in place or by rebuilding the table.

Column types are the destination's own DDL (`DeclaresTypes.type_sql`, or the dialect's
table in `connectors.sql`): they are written as given, after a name sqlglot quotes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef, TableSchema


def _declared(type_sql: str) -> exp.DataType:
    """A column type exactly as the destination declares it (comments and all)."""
    return exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=type_sql)


def _alter(target: TableRef, action: exp.Expr, dialect: str) -> str:
    return exp.Alter(this=sql.table_expr(target), kind="TABLE", actions=[action]).sql(
        dialect=dialect
    )


def add_column(target: TableRef, name: str, type_sql: str, dialect: str) -> str:
    """ALTER TABLE … ADD COLUMN …."""
    column = exp.ColumnDef(this=sql.identifier(name), kind=_declared(type_sql))
    return _alter(target, column, dialect)


@dataclass(frozen=True)
class Widening:
    """Which columns a dialect can change the type of in place (the others: `rebuild`)."""

    columns: bool = True
    keys: bool = True
    """Columns of the primary key."""


WIDENING: dict[str, Widening] = {
    "sqlite": Widening(columns=False, keys=False),  # no ALTER of a column's type at all
    "duckdb": Widening(keys=False),  # no ALTER of a column that is part of a primary key
}


def widen_column(
    target: TableRef, name: str, type_sql: str, dialect: str, *, key: bool = False
) -> str | None:
    """ALTER a column to a wider type; None when only a rebuild of the table can change it.

    sqlglot spells it per dialect (ALTER COLUMN … SET DATA TYPE, MySQL's MODIFY COLUMN).
    """
    widening = WIDENING.get(dialect, Widening())
    if not (widening.keys if key else widening.columns):
        return None
    change = exp.AlterColumn(this=sql.identifier(name), dtype=_declared(type_sql))
    return _alter(target, change, dialect)


def rebuild(
    target: TableRef,
    layout: TableSchema,
    dialect: str,
    type_sql: Callable[[pa.DataType, bool], str] | None = None,
) -> list[str]:
    """Statements re-creating `target` with the layout's column types, its rows kept."""
    fresh = target.with_name(target.name + "__conveyor_rebuild")
    names = [c.name for c in layout.columns]
    return [
        sql.drop_table_sql(fresh, dialect),
        sql.create_table_sql(fresh, layout, dialect, type_sql),
        sql.insert_select_sql(target, fresh, names, dialect),
        *sql.replace_statements(fresh, target, dialect),
    ]
