"""SQL the MySQL connector builds: probes and server-side conversions around a query.

Queries are rewritten as sqlglot trees and every identifier is quoted through sqlglot,
never pasted into a string.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.mysql import types
from conveyor.errors import ConfigurationError

DIALECT = types.DIALECT
ALIAS = "__conveyor_q"


def _parse(query: str) -> exp.Expr:
    try:
        return sqlglot.parse_one(query, dialect=DIALECT)
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" (line {first.get('line')}, column {first.get('col')})" if first else ""
        raise ConfigurationError(f"cannot parse the query{where}: {query[:200]}") from exc


def probe(query: str) -> str:
    """The query returning no row, so its column definitions cost nothing."""
    tree = _parse(query)
    if isinstance(tree, exp.Select):
        return tree.limit(0).sql(dialect=DIALECT)
    derived = exp.paren(tree).as_(sql.identifier(ALIAS))
    return exp.select("*").from_(derived).limit(0).sql(dialect=DIALECT)


def computed(query: str, planned: list[types.ReadColumn]) -> str:
    """`SELECT <exprs over q> FROM (query) AS q [ORDER BY …]`: columns the server converts.

    MariaDB drops an ORDER BY inside a derived table, so a plain-column ORDER BY moves to
    the outer query; any other keeps its place, pinned by a LIMIT.
    """
    tree = _parse(query)
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    outer_order: list[exp.Expr] = []
    if order is not None and not tree.args.get("limit"):
        names = {c.name for c in planned}
        keys = order.expressions
        if all(isinstance(k.this, exp.Column) and k.this.name in names for k in keys):
            outer_order = [
                exp.Ordered(this=sql.column(k.this.name, ALIAS), desc=k.args.get("desc"))
                for k in keys
            ]
            tree.set("order", None)
        else:
            tree = tree.limit(exp.Literal.number("18446744073709551615"))  # type: ignore[attr-defined]
    projections = []
    for column in planned:
        ref = sql.column(column.name, ALIAS)
        value = _template(column.sql, ref) if column.sql else ref
        projections.append(exp.alias_(value, sql.identifier(column.name)))
    derived = exp.paren(tree).as_(sql.identifier(ALIAS))
    select = exp.select(*projections).from_(derived)
    if outer_order:
        select = select.order_by(*outer_order)
    return select.sql(dialect=DIALECT)


def _template(template: str, value: exp.Expr) -> exp.Expr:
    """A SQL template over `{col}` as an expression of `value`."""
    tree = sqlglot.parse_one(template.format(col="__conveyor_col"), dialect=DIALECT)
    return tree.transform(
        lambda node: (
            value.copy() if isinstance(node, exp.Column) and node.name == "__conveyor_col" else node
        )
    )
