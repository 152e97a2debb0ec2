"""SQL the PostgreSQL connector builds: casts around a query, ranged reads.

Every identifier is quoted through sqlglot (`sql.quote`, `sql.column`), and queries are
rewritten as sqlglot trees, never by pasting names into strings.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.postgres import types

DIALECT = types.DIALECT


def with_casts(query: str, planned: list[types.ReadColumn]) -> str:
    """`SELECT q.a, q.b::text AS b, … FROM (query) AS q`: what ADBC cannot read, as text.

    Short numerics are sent as their unscaled integers, `(q.n * 10^s)::int8`.
    """
    alias = "__conveyor_q"
    projections = []
    for column in planned:
        value: exp.Expr = sql.column(column.name, alias)
        if column.scaled:
            factor = exp.Literal.number(10**column.type.scale)
            unscaled = exp.cast(exp.Mul(this=value, expression=factor), "BIGINT")
            value = exp.alias_(unscaled, sql.identifier(column.name))
        elif column.cast:
            value = exp.alias_(exp.cast(value, column.cast), sql.identifier(column.name))
        projections.append(value)
    subquery = exp.paren(sqlglot.parse_one(query, dialect=DIALECT)).as_(alias)
    return exp.select(*projections).from_(subquery).sql(dialect=DIALECT)


def ranged(
    sql_text: str, key: exp.Expr, bounds: list[int], literal: Any, cast_to: str
) -> list[str]:
    """The query once per range [.., b0), [b0, b1), …, [bn, ..) of `key`."""
    tree = sqlglot.parse_one(sql_text, dialect=DIALECT)
    if not isinstance(tree, exp.Select):
        return [sql_text]
    to = exp.DataType.build(cast_to, dialect=DIALECT, udt=True)
    values = [exp.cast(exp.Literal.string(literal(b)), to) for b in bounds]
    queries = []
    for i in range(len(values) + 1):
        conditions: list[exp.Expr] = []
        if i > 0:
            conditions.append(exp.GTE(this=key.copy(), expression=values[i - 1]))
        if i < len(values):
            conditions.append(exp.LT(this=key.copy(), expression=values[i]))
        queries.append(tree.copy().where(exp.and_(*conditions)).sql(dialect=DIALECT))
    return queries
