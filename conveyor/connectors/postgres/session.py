"""One PostgreSQL database's connections and catalog: what the connector and its helpers share.

`PostgresConnector` is a session plus the connector protocols; the modules that load
(`load`), relay (`relay`) and connect asynchronously (`async_connect`)
work on a session, so none of them imports the connector that imports them.

Metadata and DDL go through one psycopg connection (autocommit, under a lock); reads and
loads each take an ADBC connection of their own, given back for reuse when they end cleanly.
A job's `command_timeout` is the psycopg session's `statement_timeout`, so the server stops
every lookup, DDL, swap and merge that runs too long; the row streams of the ADBC
connections are bounded by the engine, between batches.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import psycopg
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef
from conveyor.connectors.command_limit import timed_out
from conveyor.connectors.configured import Configured
from conveyor.connectors.metadata import SharedConnection
from conveyor.connectors.postgres import types
from conveyor.connectors.postgres.conninfo import Conninfo
from conveyor.connectors.postgres.errors import connect_error, map_error
from conveyor.connectors.postgres.options import PostgresOptions
from conveyor.connectors.server import parse_server_url
from conveyor.errors import ConveyorError, TableNotFound

DIALECT = types.DIALECT
_IDLE_CONNECTIONS = 2  # ADBC connections kept for the next read or load


class PostgresSession(Configured[PostgresOptions]):
    """The connections to one database, within `reach`, and lookups in its catalog."""

    options_model = PostgresOptions

    def _configure(self) -> None:
        self.address = parse_server_url(
            self.url, ("postgresql", "postgres"), 5432, self.options.password
        )
        self._target = Conninfo(self.address, self.options, self.reach)
        self._shared: SharedConnection[psycopg.Connection[Any]] = SharedConnection(
            lambda conn: not conn.closed
        )
        self._created: set[TableRef] = set()  # tables made here, not yet loaded
        self._idle: list[Any] = []  # ADBC connections a finished read or load gave back
        self._opening: Future[Any] | None = None  # an ADBC connect `prepare_read` started
        self._limit: float | None = None  # command_timeout, seconds
        self._limited: tuple[psycopg.Connection[Any] | None, float | None] = (None, None)
        """The metadata session and the limit in effect on it."""
        self._snapshot: str | None = None  # reads see this exported snapshot (CDC)

    @property
    def limit(self) -> float | None:
        """The command limit (`command_timeout`) in seconds; None: no limit."""
        return self._limit

    def limit_commands(self, seconds: float | None) -> None:
        """Have the server stop any statement of the metadata session running longer than
        `seconds` (its `statement_timeout`; None: the role's own default); see
        `LimitsCommands`."""
        with self._shared.lock:
            self._limit = seconds

    # --- connections ---------------------------------------------------------------------

    def _meta(self) -> psycopg.Connection[Any]:
        """The psycopg connection for metadata and DDL (callers hold its lock), its
        `statement_timeout` the command limit."""
        conn = self._shared.get(self._connect_meta)
        session, in_effect = self._limited
        if session is not conn:
            in_effect = None  # a new session has the server's default
        if in_effect != self._limit:
            try:
                if self._limit is None:
                    conn.execute("RESET statement_timeout")
                else:
                    milliseconds = str(max(1, round(self._limit * 1000)))
                    conn.execute(
                        "SELECT set_config('statement_timeout', %s, false)", [milliseconds]
                    )
            except psycopg.Error as exc:
                raise map_error(exc, self.address) from exc
        self._limited = (conn, self._limit)
        return conn

    def _failure(self, exc: psycopg.Error, statement: str, what: str = "") -> ConveyorError:
        """What a failed statement of the metadata session means; past the limit, a timeout."""
        stopped = isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in str(exc)
        if stopped and self._limit is not None:
            return timed_out(self._limit, statement, what)
        return map_error(exc, self.address, what)

    def _connect_meta(self) -> psycopg.Connection[Any]:
        conninfo = self._target.now()  # the policy decides on the addresses of now
        try:
            return psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise connect_error(exc, self.address) from exc

    def conninfo(self) -> str:
        """The libpq conninfo to connect with now (hosts vetted by the policy): for the
        helpers that need a session of another kind (a replication connection)."""
        return self._target.now()

    def read_in_snapshot(self, snapshot: str | None) -> None:
        """Have every read from now on see the exported snapshot `snapshot` (a change data
        capture slot's starting point), or, with None, the database as it is."""
        with self._shared.lock:
            self._snapshot = snapshot
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @property
    def in_snapshot(self) -> bool:
        """Whether reads see an exported snapshot (`read_in_snapshot`)."""
        return self._snapshot is not None

    def _adbc(self) -> Any:
        """An ADBC connection of its own for one read or load (they run in their own threads).

        Connecting costs tens of milliseconds (the driver loads the server's type catalog),
        and a run makes many small reads (probes, counts, keys), so connections that
        finished their work cleanly are kept and handed out again. Under a snapshot
        (`read_in_snapshot`) each one holds a repeatable-read transaction importing it.
        """
        with self._shared.lock:
            if self._idle:
                return self._idle.pop()
            snapshot = self._snapshot
            opening, self._opening = self._opening, None
        if opening is not None and opening.exception() is None:
            if snapshot is None:
                return opening.result()
            opening.result().close()  # connected outside the snapshot reads must see
        conninfo = self._target.now()  # (again, after a failed early connect: its error)
        try:
            conn = adbc.connect(conninfo, autocommit=snapshot is None)
        except Exception as exc:
            raise connect_error(exc, self.address) from exc
        if snapshot is not None:
            try:
                with conn.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    literal = exp.Literal.string(snapshot).sql(dialect=DIALECT)
                    cur.execute(f"SET TRANSACTION SNAPSHOT {literal}")
            except Exception as exc:
                conn.close()
                raise connect_error(exc, self.address) from exc
        return conn

    def prepare_read(self) -> None:
        """Open the first read's ADBC connection in the background (`PreparesReads`): the
        driver loads the server's type catalog as it connects, tens of milliseconds that
        the run otherwise waits for before its first read."""
        with self._shared.lock:
            if self._idle or self._opening is not None:
                return
            opening: Future[Any] = Future()
            self._opening = opening
        threading.Thread(
            target=self._open_early, args=(opening,), name="conveyor-pg-connect", daemon=True
        ).start()

    def _open_early(self, opening: Future[Any]) -> None:
        try:
            opening.set_result(adbc.connect(self._target.now(), autocommit=True))
        except BaseException as exc:  # the read connects again and reports its own error
            opening.set_exception(exc)

    def _give_back(self, conn: Any, *, reusable: bool) -> None:
        """Keep a connection whose read or load ended cleanly; close any other."""
        with self._shared.lock:
            if reusable and len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def _query(self, statement: str, params: Sequence[Any] = (), what: str = "") -> list[Any]:
        with self._shared.lock:
            conn = self._meta()
            try:
                cur = conn.execute(statement, list(params) or None)
                return cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                raise self._failure(exc, statement, what) from exc

    def _transaction(self, statements: Sequence[str], what: str = "") -> list[int]:
        with self._shared.lock:
            conn = self._meta()
            counts = []
            current = ""
            try:
                with conn.transaction(), conn.cursor() as cur:
                    for current in statements:
                        cur.execute(current)
                        counts.append(cur.rowcount)
            except psycopg.Error as exc:
                raise self._failure(exc, current, what) from exc
            return counts

    def close(self) -> None:
        """Close the metadata connections."""
        with self._shared.lock:
            self._shared.close()
            idle, self._idle = self._idle, []
            opening, self._opening = self._opening, None
        for conn in idle:
            conn.close()
        if opening is not None:  # closed once connected, without waiting for it here
            opening.add_done_callback(_close_opened)

    # --- catalog -----------------------------------------------------------------------------

    def _oid(self, table: TableRef) -> int | None:
        rows = self._query("SELECT to_regclass(%s)::oid", [sql.table_sql(table, DIALECT)])
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def _require(self, table: TableRef) -> int:
        oid = self._oid(table)
        if oid is None:
            raise TableNotFound(f"table {str(table)!r} does not exist", table=str(table))
        return oid

    def _attributes(self, oid: int) -> list[Any]:
        """name, declared type, base type name, typmod, not null, primary key, built-in type
        (the same OID in every database), enum — per column."""
        return self._query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod),"
            " coalesce(bt.typname, t.typname), coalesce(nullif(t.typtypmod, -1), a.atttypmod),"
            " a.attnotnull, coalesce(a.attnum = ANY(i.indkey), false), a.atttypid < 16384,"
            " coalesce(bt.typtype, t.typtype) = 'e'"
            " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
            " LEFT JOIN pg_type bt ON bt.oid = nullif(t.typbasetype, 0)"
            " LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary"
            " WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [oid],
        )


def _close_opened(opening: Future[Any]) -> None:
    """Close a connection opened early that no read took."""
    if opening.exception() is None:
        opening.result().close()
