"""What the statements of every mode share: rows matched by key, INSERT … SELECT, UPDATE.

Staged rows are read under the alias `STAGED`, a table of the source's keys under `KEYS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef

STAGED = "__conveyor_staged"
KEYS = "__conveyor_keys"


def keys_match(keys: Sequence[str], left: TableRef | str, right: TableRef | str) -> exp.Expr:
    """`left.k = right.k AND …` for every key column."""
    return exp.and_(
        *(exp.EQ(this=sql.column(k, left), expression=sql.column(k, right)) for k in keys)
    )


def missing(target: TableRef, keys_table: TableRef, keys: Sequence[str]) -> exp.Expr:
    """Target rows whose key is not in `keys_table` (rows gone from the source)."""
    present = (
        exp.select("1")
        .from_(sql.table_expr(keys_table, KEYS))
        .where(keys_match(keys, target, KEYS))
    )
    return exp.Not(this=exp.Exists(this=present))


def insert_from(
    staging: TableRef,
    target: TableRef,
    columns: Sequence[str],
    dialect: str,
    where: exp.Expr | None = None,
) -> str:
    """INSERT INTO target (cols) SELECT cols FROM staging [WHERE …]."""
    select = exp.select(*(sql.column(c, STAGED) for c in columns)).from_(
        sql.table_expr(staging, STAGED)
    )
    if where is not None:
        select = select.where(where)
    names = [sql.identifier(c) for c in columns]
    return exp.insert(select, sql.table_expr(target), columns=names).sql(dialect=dialect)


def update(target: TableRef, values: dict[str, exp.Expr], where: exp.Expr, dialect: str) -> str:
    """UPDATE target SET … WHERE …."""
    assignments = [exp.EQ(this=sql.column(k), expression=v) for k, v in values.items()]
    return exp.Update(
        this=sql.table_expr(target), expressions=assignments, where=exp.Where(this=where)
    ).sql(dialect=dialect)
