"""One PostgreSQL database's connections and catalog: what the connector and its helpers share.

`PostgresConnector` is a session plus the connector protocols; the modules that load
(`load`), relay (`relay`) and connect asynchronously (`async_connect`)
work on a session, so none of them imports the connector that imports them.

Metadata and DDL go through one psycopg connection (autocommit, under a lock); reads and
loads each take an ADBC connection of their own, given back for reuse when they end cleanly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import psycopg

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef
from conveyor.connectors.configured import Configured
from conveyor.connectors.metadata import SharedConnection
from conveyor.connectors.postgres import types
from conveyor.connectors.postgres.conninfo import Conninfo
from conveyor.connectors.postgres.errors import connect_error, map_error
from conveyor.connectors.postgres.options import PostgresOptions
from conveyor.connectors.server import parse_server_url
from conveyor.errors import TableNotFound

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

    # --- connections ---------------------------------------------------------------------

    def _meta(self) -> psycopg.Connection[Any]:
        """The psycopg connection for metadata and DDL (callers hold its lock)."""
        return self._shared.get(self._connect_meta)

    def _connect_meta(self) -> psycopg.Connection[Any]:
        conninfo = self._target.now()  # the policy decides on the addresses of now
        try:
            return psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise connect_error(exc, self.address) from exc

    def _adbc(self) -> Any:
        """An ADBC connection of its own for one read or load (they run in their own threads).

        Connecting costs tens of milliseconds (the driver loads the server's type catalog),
        and a run makes many small reads (probes, counts, keys), so connections that
        finished their work cleanly are kept and handed out again.
        """
        with self._shared.lock:
            if self._idle:
                return self._idle.pop()
        conninfo = self._target.now()
        try:
            return adbc.connect(conninfo, autocommit=True)
        except Exception as exc:
            raise connect_error(exc, self.address) from exc

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
                raise map_error(exc, self.address, what) from exc

    def _transaction(self, statements: Sequence[str], what: str = "") -> list[int]:
        with self._shared.lock:
            conn = self._meta()
            counts = []
            try:
                with conn.transaction(), conn.cursor() as cur:
                    for statement in statements:
                        cur.execute(statement)
                        counts.append(cur.rowcount)
            except psycopg.Error as exc:
                raise map_error(exc, self.address, what) from exc
            return counts

    def close(self) -> None:
        """Close the metadata connections."""
        with self._shared.lock:
            self._shared.close()
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

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
