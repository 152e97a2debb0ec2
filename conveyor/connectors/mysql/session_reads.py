"""Reads over one pymysql session, for what only that session sees.

connectorx reads on connections of its own. Change data capture needs reads in a session
that holds something: the first run's snapshot (`START TRANSACTION WITH CONSISTENT
SNAPSHOT`, whose binlog position is known exactly) and changed rows staged in a TEMPORARY
table. Those reads go through pymysql: rows fetched in batches, each column built as Arrow
and cast to the plan's exact type — the same plan (`types.plan_read`) and the same casts
(`types.convert`) as connectorx's batches, so a row read here has the full load's types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pymysql
import pymysql.cursors

from conveyor.connectors import sql
from conveyor.connectors.mysql import sql as mysql_sql
from conveyor.connectors.mysql import types
from conveyor.errors import DataError

__all__ = [
    "BinlogPosition",
    "binlog_status",
    "plan_on",
    "quote_name",
    "read_batches",
    "snapshot_position",
    "stage",
    "to_batch",
]


@dataclass(frozen=True)
class BinlogPosition:
    """A point of the server's binlog: file and offset, and the GTID state when known."""

    file: str
    pos: int
    gtid: str | None = None


def plan_on(conn: Any, query: str) -> list[types.ReadColumn]:
    """The query's column plans, from a LIMIT 0 probe on this session (it may name the
    session's temporary tables)."""
    with conn.cursor() as cur:
        cur.execute(mysql_sql.probe(query))
        return types.plan_read(list(cur._result.fields or []))


def to_batch(
    rows: Sequence[Sequence[Any]], planned: list[types.ReadColumn], schema: pa.Schema
) -> pa.RecordBatch:
    """Python rows as pymysql returns them → a batch of the planned Arrow types."""
    arrays = []
    for i, column in enumerate(planned):
        values = [row[i] for row in rows]
        try:
            arrays.append(pa.array(values, type=column.type if not column.sql else None))
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise DataError(f"column {column.name!r}: cannot read as {column.type}: {exc}") from exc
    raw = pa.RecordBatch.from_arrays(arrays, names=schema.names)
    return types.convert(raw, planned, schema)


def read_batches(
    conn: Any, query: str, batch_size: int, planned: list[types.ReadColumn] | None = None
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The query's rows in batches of at most `batch_size`, read on this session
    (unbuffered: the session is busy until the iterator is exhausted or closed)."""
    planned = planned if planned is not None else plan_on(conn, query)
    schema = types.schema_of(planned)
    if types.needs_sql(planned):
        query = mysql_sql.computed(query, planned)

    def batches() -> Iterator[pa.RecordBatch]:
        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(query)
            while rows := cur.fetchmany(max(1, batch_size)):
                yield to_batch(rows, planned, schema)

    return schema, batches()


def stage(
    conn: Any, schema: str, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> str:
    """Rows into a new TEMPORARY copy of `schema.table` in this session (its columns and
    types as they are now); returns the copy's name, in the same database."""
    name = "_conveyor_cdc_" + hashlib.sha1(f"{schema}.{table}".encode()).hexdigest()[:16]
    copy, original = quote_name(schema, name), quote_name(schema, table)
    with conn.cursor() as cur:
        cur.execute(f"DROP TEMPORARY TABLE IF EXISTS {copy}")
        cur.execute(f"CREATE TEMPORARY TABLE {copy} LIKE {original}")
        names = ", ".join(sql.quote(c, types.DIALECT) for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        cur.executemany(f"INSERT INTO {copy} ({names}) VALUES ({marks})", [tuple(r) for r in rows])  # noqa: S608
    return name


def quote_name(schema: str, table: str) -> str:
    """`schema`.`table`, quoted."""
    return f"{sql.quote(schema, types.DIALECT)}.{sql.quote(table, types.DIALECT)}"


def binlog_status(cur: Any) -> Any:
    """The row of `SHOW MASTER STATUS` (MySQL ≥ 8.4: `SHOW BINARY LOG STATUS`): file,
    position, …, and on MySQL the executed GTID set; None when the binlog is off."""
    try:
        cur.execute("SHOW MASTER STATUS")
    except pymysql.err.ProgrammingError:
        cur.execute("SHOW BINARY LOG STATUS")
    return cur.fetchone()


def snapshot_position(conn: Any, mariadb: bool) -> BinlogPosition:
    """Open a consistent-snapshot transaction on `conn` and return the binlog position it
    sees: every transaction committed before it is in the snapshot, none after.

    MariaDB reports the position of the snapshot itself (`binlog_snapshot_file/position`).
    MySQL does not: a brief FLUSH TABLES WITH READ LOCK holds commits while the snapshot
    starts and the position is read (needs RELOAD)."""
    with conn.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        if mariadb:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            found = {str(k).lower(): v for k, v in cur.fetchall()}
            file, pos = found.get("binlog_snapshot_file"), found.get("binlog_snapshot_position")
            gtid = None  # MariaDB names no GTID for the snapshot; the stream's events do
        else:
            cur.execute("FLUSH TABLES WITH READ LOCK")
            try:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                row = binlog_status(cur)
            finally:
                cur.execute("UNLOCK TABLES")
            file, pos = (row[0], row[1]) if row else (None, None)
            gtid = str(row[4]) if row and len(row) > 4 and row[4] else None
    if not file or pos is None:
        raise DataError("the server reports no binlog position: is log_bin on?")
    return BinlogPosition(str(file), int(pos), gtid)
