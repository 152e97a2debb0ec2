"""History mode: a new version carries the values its change left unchanged.

PostgreSQL's log leaves out a TOASTed value an update did not change. A merge simply
leaves that column alone in the destination row; but history mode inserts a *new*
version, which would get NULL there. So before such rows are staged, the values they
lack are read from each key's active version in the destination (the one the new
version replaces) and added to the rows: the new version is whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import Readable, TableRef
from conveyor.engine.sql.deletes import DELETED
from conveyor.engine.sql.history import ACTIVE, HISTORY_COLUMNS
from conveyor.engine.sql.values import literal

__all__ = ["carry_unchanged"]

BOOKKEEPING = frozenset({*HISTORY_COLUMNS, DELETED})
KEYS_PER_QUERY = 1_000
"""Keys looked up by one query (an IN list)."""
COMPOSITE_KEYS_PER_QUERY = 100
"""Composite keys looked up by one query (an OR of ANDs, nested as deep as it is long)."""


def carry_unchanged(
    destination: Any,
    target: TableRef,
    target_columns: Sequence[str],
    rows: pa.Table,
    keys: Sequence[str],
) -> pa.Table:
    """`rows` with every data column of `target` they lack, valued as in the key's active
    version (NULL for a key without one)."""
    lacking = [c for c in target_columns if c not in rows.column_names and c not in BOOKKEEPING]
    if not lacking or not rows.num_rows or not isinstance(destination, Readable):
        return rows
    wanted = [tuple(r[k] for k in keys) for r in rows.select(list(keys)).to_pylist()]
    size = KEYS_PER_QUERY if len(keys) == 1 else COMPOSITE_KEYS_PER_QUERY
    parts = [
        destination.read(
            _active(target, keys, lacking, wanted[i : i + size], destination.dialect), 65_536
        ).read_all()
        for i in range(0, len(wanted), size)
    ]
    found = pa.concat_tables(parts, promote_options="permissive")
    previous = {tuple(r[k] for k in keys): r for r in found.to_pylist()}
    for column in lacking:
        values = [previous.get(key, {}).get(column) for key in wanted]
        rows = rows.append_column(
            found.schema.field(column).with_nullable(True),
            pa.array(values, type=found.schema.field(column).type),
        )
    return rows


def _active(
    target: TableRef,
    keys: Sequence[str],
    lacking: Sequence[str],
    wanted: Sequence[tuple[Any, ...]],
    dialect: str,
) -> str:
    """SELECT the keys and `lacking` columns of these keys' active versions. One key is
    an IN list; a composite one an OR of a few ANDs (SQLite nests at most 1,000 deep)."""
    which: exp.Expr
    if len(keys) == 1:
        which = exp.In(
            this=sql.column(keys[0]), expressions=[literal(key[0], dialect) for key in wanted]
        )
    else:
        which = exp.or_(
            *(
                exp.and_(
                    *(
                        exp.EQ(this=sql.column(k), expression=literal(v, dialect))
                        for k, v in zip(keys, key, strict=True)
                    )
                )
                for key in wanted
            )
        )
    active = exp.EQ(this=sql.column(ACTIVE), expression=exp.true())
    return (
        exp.select(*(sql.column(c) for c in [*keys, *lacking]))
        .from_(sql.table_expr(target))
        .where(exp.and_(active, exp.paren(which)))
        .sql(dialect=dialect)
    )
