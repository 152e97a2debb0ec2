"""Bulk loads into PostgreSQL: one binary COPY per stream, index built once at the end.

`CopyWriter` hands batches (cast to the exact wire types of the target's columns) to a
background `Feed` running ADBC's bulk ingest, so a whole stream is a single
`COPY … FROM STDIN (FORMAT binary)` in one transaction. When the target is a table this
connector just created and it is still empty, its primary key is dropped for the load and
added back at the end — PostgreSQL's own advice for bulk loads: building the index once
by sorting is far cheaper than maintaining it row by row, and a duplicate key still fails
the load (when the key is added back).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef
from conveyor.connectors.postgres import types
from conveyor.connectors.postgres.errors import map_error
from conveyor.connectors.server import Feed

if TYPE_CHECKING:
    from conveyor.connectors.postgres.session import PostgresSession

DIALECT = types.DIALECT
INDEX_BUILD_MEMORY = "256MB"  # server memory for the one sort that builds a deferred key


def part_of_the_load(connector: PostgresSession) -> list[str]:
    """Building a deferred key or type after the COPY finishes the bulk load, which
    `command_timeout` bounds between batches, not as one statement: the command limit is
    lifted for its transaction (a limit of the role's own is left alone)."""
    return ["SET LOCAL statement_timeout = 0"] if connector.limit is not None else []


def defer_primary_key(connector: PostgresSession, table: TableRef, oid: int) -> str | None:
    """Drop an empty table's primary key; return the statement that restores it (or None)."""
    found = connector._query(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s AND contype = 'p'",
        [oid],
    )
    if not found or connector._query(sql.select_sql(table, None, DIALECT, limit=1)):
        return None
    name, definition = found[0]
    target, constraint = sql.table_sql(table, DIALECT), sql.quote(name, DIALECT)
    connector._query(f"ALTER TABLE {target} DROP CONSTRAINT {constraint}", what=str(table))
    return f"ALTER TABLE {target} ADD CONSTRAINT {constraint} {definition}"


def defer_column_types(
    connector: PostgresSession, table: TableRef, schema: pa.Schema, attributes: dict[str, Any]
) -> str | None:
    """Give an empty table's columns that binary COPY cannot fill from their Arrow values
    (inet, bit, varchar[], …) the Arrow values' own type for the load; return the
    statement that gives them their declared types back (a cast of the loaded values)."""
    loaded, restored = [], []
    target = sql.table_sql(table, DIALECT)
    for field in schema:
        _, declared, base, _, _, _, _, enum = attributes[field.name]
        if types.writable(base, enum, field.type):
            continue
        column = sql.quote(field.name, DIALECT)
        loaded.append(f"ALTER COLUMN {column} TYPE {types.column_type(field.type, False)}")
        restored.append(f"ALTER COLUMN {column} TYPE {declared} USING {column}::{declared}")
    if not loaded:
        return None
    connector._query(f"ALTER TABLE {target} " + ", ".join(loaded), what=str(table))
    return f"ALTER TABLE {target} " + ", ".join(restored)


def restore_primary_key(
    connector: PostgresSession, table: TableRef, statement: str | None, *, quietly: bool
) -> None:
    """Run the statement `defer_primary_key` returned (quietly: after a failed load)."""
    if statement is None:
        return
    # the index is built by sorting: give the sort memory for this one statement
    statements = [
        f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'",
        *part_of_the_load(connector),
        statement,
    ]
    if quietly:
        with contextlib.suppress(Exception):
            connector._transaction(statements, what=str(table))
    else:
        connector._transaction(statements, what=str(table))


class CopyWriter:
    """One binary COPY into a table, fed by `write` through a background `Feed`."""

    def __init__(
        self,
        connector: PostgresSession,
        table: TableRef,
        schema: pa.Schema,
        wire: list[pa.DataType | None],
        restore_key: str | None = None,
        retype: str | None = None,
    ) -> None:
        self._connector = connector
        self._table = table
        self._wire = wire
        self._restore_key = restore_key
        self._retype = retype
        self._schema = types.to_wire(pa.RecordBatch.from_pylist([], schema=schema), wire).schema
        self._conn: Any = connector._adbc()
        self._cursor = self._conn.cursor()
        self._bytes = 0
        address, wire_schema, cursor = connector.address, self._schema, self._cursor

        def consume(batches: Iterator[pa.RecordBatch]) -> object:
            reader = pa.RecordBatchReader.from_batches(wire_schema, batches)
            return cursor.adbc_ingest(
                table.name, reader, mode="append", db_schema_name=table.schema
            )

        self._feed: Feed[pa.RecordBatch] = Feed(
            consume,
            lambda exc: map_error(exc, address, str(table)),
            timeout=connector.limit,
            statement=f"COPY {sql.table_sql(table, DIALECT)} FROM STDIN (FORMAT binary)",
            what=str(table),
        )

    def write(self, batch: pa.RecordBatch) -> None:
        """Convert a batch to the wire types and hand it to the COPY."""
        if not batch.num_rows:
            return
        converted = types.to_wire(batch, self._wire)
        if not converted.schema.equals(self._schema):
            converted = converted.cast(self._schema)
        self._feed.put(converted)
        self._bytes += batch.nbytes

    def close(self) -> int:
        """Finish the COPY (committing it), then build the primary key back."""
        try:
            self._feed.finish()
        except BaseException:
            self._release(reusable=False)
            self._restore(quietly=True)
            raise
        self._release(reusable=True)
        self._restore(quietly=False)
        return self._bytes

    def abort(self) -> None:
        """Make the COPY fail (nothing of it is kept) and put the primary key back."""
        self._feed.abort()
        self._release(reusable=False)
        self._restore(quietly=True)

    def _restore(self, *, quietly: bool) -> None:
        retype, self._retype = self._retype, None
        if retype is not None and not quietly:  # a failed load's table is dropped anyway
            statements = [*part_of_the_load(self._connector), retype]
            self._connector._transaction(statements, what=str(self._table))
        statement, self._restore_key = self._restore_key, None
        restore_primary_key(self._connector, self._table, statement, quietly=quietly)

    def _release(self, *, reusable: bool) -> None:
        """Hand the connection back to the connector (kept for reuse after a clean COPY)."""
        if self._conn is not None:
            self._cursor.close()
            self._connector._give_back(self._conn, reusable=reusable)
            self._conn = None
