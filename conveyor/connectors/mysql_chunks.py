"""Reading a large MySQL table in key order, one bounded chunk at a time.

connectorx reads in a Rust thread that never waits for its reader: when the destination
takes rows more slowly than MariaDB sends them (a load into PostgreSQL does), the
batches pile up in its channel — 600 MB for a 10M-row table read at PostgreSQL's pace,
and more for a larger one. A plain read of a large table keyed by one integer column is
therefore cut into `… WHERE key > last ORDER BY key LIMIT n` statements (keyset
pagination: a range scan of InnoDB's clustered key, no sort), each read to its end
before the next starts, so at most one chunk (about `CHUNK_BYTES`) can pile up.

Each chunk is its own statement, so a chunked read is not one snapshot: a row inserted
or changed during the read may or may not be in it, as with a read split into parallel
parts; the next incremental run picks it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from conveyor.connectors import mysql_types as types
from conveyor.connectors import sql
from conveyor.connectors.mysql_sql import ALIAS

if TYPE_CHECKING:
    from conveyor.connectors.mysql import MySQLConnector

DIALECT = types.DIALECT
CHUNK_BYTES = 32 * 2**20
"""About how much of the table one chunk holds (by the server's average row length)."""
MIN_CHUNK_ROWS = 10_000
MAX_CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class Keyset:
    """How to read one table in chunks of `rows` rows, in the order of its integer `key`."""

    key: str
    rows: int

    def statement(self, query: str, after: int | None, wrapped: bool) -> str:
        """`query` limited to the chunk after key value `after` (None: the first chunk).

        `wrapped`: the query is `mysql_sql.computed`'s, whose columns are its derived
        table's; the key is then named through that table, never a computed alias.
        """
        tree = sqlglot.parse_one(query, dialect=DIALECT)
        assert isinstance(tree, exp.Select)
        key = sql.column(self.key, ALIAS if wrapped else None)
        if after is not None:
            tree = tree.where(exp.GT(this=key.copy(), expression=exp.Literal.number(after)))
        tree = tree.order_by(key).limit(self.rows)
        return tree.sql(dialect=DIALECT)

    def last(self, batch: pa.RecordBatch, previous: int | None) -> int | None:
        """The largest key read so far, with this batch."""
        found = pc.max(batch.column(self.key)).as_py()
        if found is None:
            return previous
        largest = int(found)
        return largest if previous is None else max(previous, largest)


def keyset(connector: MySQLConnector, query: str, planned: list[types.ReadColumn]) -> Keyset | None:
    """A Keyset for a plain read of one large table with a one-column integer key, else None.

    Plain: `SELECT columns FROM table`, nothing else (no WHERE, join, grouping, order,
    limit or aggregate), returning the key column under its own name.
    """
    try:
        tree = sqlglot.parse_one(query, dialect=DIALECT)
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Select) or not _plain(tree):
        return None
    source = tree.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table):
        return None
    table = source.this
    found = connector._query(
        "SELECT t.TABLE_ROWS, t.AVG_ROW_LENGTH,"
        " (SELECT GROUP_CONCAT(k.COLUMN_NAME) FROM information_schema.KEY_COLUMN_USAGE k"
        "  WHERE k.TABLE_SCHEMA = t.TABLE_SCHEMA AND k.TABLE_NAME = t.TABLE_NAME"
        "  AND k.CONSTRAINT_NAME = 'PRIMARY')"
        " FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s",
        [table.db or connector.address.database, table.name],
    )
    if not found or found[0][2] is None or "," in found[0][2]:
        return None
    estimate, row_length, key = found[0]
    by_name = {column.name: column for column in planned}
    if key not in by_name or not pa.types.is_integer(by_name[key].type):
        return None
    if not any(_names(projection, key) for projection in tree.expressions):
        return None  # the key is not returned as itself (renamed, or another column named so)
    rows = min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, CHUNK_BYTES // max(1, int(row_length or 0))))
    if int(estimate or 0) <= 2 * rows:
        return None  # small enough to read in one statement
    return Keyset(str(key), rows)


_CLAUSES = ("joins", "where", "group", "having", "order", "limit", "offset", "distinct", "with")


def _plain(tree: exp.Select) -> bool:
    if any(tree.args.get(clause) for clause in (*_CLAUSES, "qualify", "locks")):
        return False
    return tree.find(exp.AggFunc, exp.Window, exp.Subquery) is None


def _names(projection: exp.Expr, key: str) -> bool:
    """Whether a SELECT item returns the table's `key` column under its own name."""
    if isinstance(projection, exp.Star):
        return True
    return isinstance(projection, exp.Column) and projection.name == key
