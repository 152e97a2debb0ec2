"""The MySQL/MariaDB connector: connectorx reads, LOAD DATA LOCAL INFILE writes.

Reads stream Arrow batches from connectorx (Rust, straight from the wire protocol) after
a `LIMIT 0` probe through pymysql has planned exact types (see `types`). Loads are
one `LOAD DATA LOCAL INFILE` per stream (see `load`). Metadata, DDL, swaps and
merges go through one pymysql connection. Sessions run in UTC, so TIMESTAMP columns
read as UTC instants and zoned Arrow timestamps are stored as their UTC time.
A table's schema is a MySQL database; unqualified tables are in the URL's database.

A job's `command_timeout` bounds that connection's statements on the server: MariaDB's
`max_statement_time` stops any statement; MySQL's `max_execution_time` stops only
SELECTs, so on MySQL a statement past the limit is also killed (`KILL QUERY`) from a
second connection.
"""

from __future__ import annotations

import contextlib
import ssl
import weakref
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote as url_quote

import pyarrow as pa
import pymysql

from conveyor.connectors import base, sql, type_map
from conveyor.connectors.command_limit import interrupt_after, timed_out
from conveyor.connectors.configured import Configured
from conveyor.connectors.metadata import SharedConnection, require_table
from conveyor.connectors.mysql import session_reads, types
from conveyor.connectors.mysql import sql as mysql_sql
from conveyor.connectors.mysql.client import Client
from conveyor.connectors.mysql.errors import error_code, map_error
from conveyor.connectors.mysql.load import UTC_MARK, LoadWriter, column_type
from conveyor.connectors.mysql.options import MySQLOptions
from conveyor.connectors.mysql.spill import Spill
from conveyor.connectors.server import parse_server_url, returns_nothing
from conveyor.connectors.tls import ssl_context
from conveyor.errors import ConveyorError, InvalidInput

DIALECT = types.DIALECT
_SYSTEM = ("mysql", "information_schema", "performance_schema", "sys")
_UTC = "SET time_zone = '+00:00'"
_TIMED_OUT = {1969, 3024}  # MariaDB's max_statement_time, MySQL's max_execution_time


class MySQLConnector(Configured[MySQLOptions]):
    """A MySQL or MariaDB database: read, write, discover, merge and run SQL."""

    dialect = DIALECT
    enforces_keys = True  # primary keys are real constraints: the engine may upsert
    options_model = MySQLOptions

    def _configure(self) -> None:
        self.address = parse_server_url(self.url, ("mysql", "mariadb"), 3306, self.options.password)
        if self.address.host.startswith("/"):
            raise InvalidInput(
                "a MySQL connection takes a host name or address, not a Unix socket", field="url"
            )
        self.reach.check_host(self.address.host)  # by name now; by address at each connect
        self._shared: SharedConnection[Any] = SharedConnection(lambda conn: conn.open)
        self._mariadb: bool | None = None
        self._spills: weakref.WeakSet[Spill] = weakref.WeakSet()  # reads still draining
        self._limit: float | None = None  # command_timeout, seconds
        self._limited: tuple[Any, float | None] = (None, None)
        """The metadata connection and the limit in effect on it."""
        self.snapshot_session: Any = None
        """While set (change data capture's first run), every read runs in this pymysql
        session's consistent snapshot (`session_reads`), one at a time."""

    def limit_commands(self, seconds: float | None) -> None:
        """Have the server stop any statement of the metadata connection running longer than
        `seconds` (None: the server's default); see `LimitsCommands`."""
        with self._shared.lock:
            self._limit = seconds

    # --- connections ---------------------------------------------------------------------

    def _connect(self, *, local_file: str | None = None) -> Any:
        """A new pymysql connection in UTC and utf8mb4, within the connect timeout, to an
        address the policy allows; with `local_file`, the one file LOAD DATA may send."""
        timeout = self.options.connect_timeout
        try:
            conn = Client(
                reach=self.reach,
                host=self.address.host,
                port=self.address.port,
                user=self.address.user,
                password=self.address.password or "",
                database=self.address.database,
                charset="utf8mb4",
                connect_timeout=timeout,
                read_timeout=timeout,  # bounds the handshake; lifted below
                local_infile=local_file is not None,
                ssl=self._ssl(),
                autocommit=True,
                init_command=_UTC,
            )
        except Exception as exc:
            raise map_error(exc, self.address) from exc
        conn._read_timeout = None  # queries may run long; only connecting is bounded
        if local_file is not None:
            conn.offer(local_file)
        return conn

    def _meta(self) -> Any:
        """The connection metadata and DDL share (callers hold its lock), its statements
        limited to `command_timeout` by the server."""
        conn = self._shared.get(self._connect)
        session, in_effect = self._limited
        if session is not conn:
            in_effect = None  # a new session has the server's default
        if in_effect != self._limit:
            if _is_mariadb(conn):
                value = "DEFAULT" if self._limit is None else f"{self._limit:g}"
                statement = f"SET SESSION max_statement_time = {value}"
            else:
                value = "DEFAULT" if self._limit is None else str(max(1, round(self._limit * 1000)))
                statement = f"SET SESSION max_execution_time = {value}"
            try:
                with conn.cursor() as cur:
                    cur.execute(statement)
            except pymysql.Error as exc:
                raise map_error(exc, self.address) from exc
        self._limited = (conn, self._limit)
        return conn

    def _limited_statement(
        self, conn: Any, statement: str, what: str = ""
    ) -> contextlib.AbstractContextManager[None]:
        """Where the server cannot stop a statement (MySQL: anything but a SELECT), a kill
        of the statement from a second connection once it ran past the limit."""
        if self._limit is None or _is_mariadb(conn):
            return contextlib.nullcontext()
        thread_id = conn.thread_id()
        return interrupt_after(self._limit, lambda: self._kill(thread_id), statement, what)

    def _kill(self, thread_id: int) -> None:
        killer = self._connect()
        try:
            with killer.cursor() as cur:
                cur.execute("KILL QUERY %s", (thread_id,))
        finally:
            killer.close()

    def _failure(self, exc: pymysql.Error, statement: str, what: str = "") -> ConveyorError:
        """What a failed statement of the metadata connection means; past the limit, a timeout."""
        if self._limit is not None and error_code(exc) in _TIMED_OUT:
            return timed_out(self._limit, statement, what)
        return map_error(exc, self.address, what)

    def _query(self, statement: str, params: Sequence[Any] = (), what: str = "") -> list[Any]:
        with self._shared.lock:
            conn = self._meta()
            with self._limited_statement(conn, statement, what):
                try:
                    with conn.cursor() as cur:
                        cur.execute(statement, tuple(params) or None)
                        return list(cur.fetchall()) if cur.description else []
                except pymysql.Error as exc:
                    raise self._failure(exc, statement, what) from exc

    def _transaction(self, statements: Sequence[str], what: str = "") -> list[int]:
        """Run statements in one transaction, re-opened after each DDL statement.

        MySQL commits implicitly before and after DDL and then carries on in autocommit
        mode, so without a new BEGIN every later statement would commit on its own and a
        failure half-way would leave half of the changes.
        """
        with self._shared.lock:
            conn = self._meta()
            counts = []
            statement = ""
            try:
                conn.begin()
                with conn.cursor() as cur:
                    for statement in statements:
                        with self._limited_statement(conn, statement, what):
                            counts.append(cur.execute(statement))
                        if _commits_implicitly(statement):
                            conn.begin()
                conn.commit()
            except pymysql.Error as exc:
                conn.rollback()
                raise self._failure(exc, statement, what) from exc
            except ConveyorError:
                conn.rollback()
                raise
            return counts

    def _schema(self, table: base.TableRef) -> str:
        return table.schema or self.address.database

    # --- Connector -----------------------------------------------------------------------

    def targets(self) -> base.Targets:
        """The server."""
        return base.Targets(hosts=(self.address.host,))

    def test(self) -> None:
        """Connect and run SELECT 1 within the connect timeout."""
        self._query("SELECT 1")

    def close(self) -> None:
        """Close the metadata connection; stop reads still draining ahead (an abandoned
        read would otherwise go on filling the disk with the rest of its table)."""
        for spill in list(self._spills):
            spill.close()
        self._shared.close()

    # --- Discoverable / Estimable ----------------------------------------------------------

    def list_tables(self) -> list[base.TableInfo]:
        """Tables and views of every non-system database; the URL's database has no schema."""
        rows = self._query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA NOT IN %s ORDER BY TABLE_SCHEMA, TABLE_NAME",
            [_SYSTEM],
        )
        return [
            base.TableInfo(
                base.TableRef(name, None if schema == self.address.database else schema),
                "view" if kind == "VIEW" else "table",
                None,
                default_schema=schema if schema == self.address.database else None,
            )
            for schema, name, kind, _ in rows
        ]

    def table_exists(self, table: base.TableRef) -> bool:
        """Whether a table or view of that name exists in its database."""
        return bool(
            self._query(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                [self._schema(table), table.name],
            )
        )

    def _column_rows(self, table: base.TableRef) -> list[Any]:
        return self._query(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'YES', COLUMN_KEY = 'PRI'"
            " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
            " ORDER BY ORDINAL_POSITION",
            [self._schema(table), table.name],
        )

    def columns(self, table: base.TableRef) -> list[base.ColumnInfo]:
        """Columns with the Arrow types a read returns, declared types and primary key."""
        require_table(self, table)
        planned = self._plan(sql.select_sql(table, None, DIALECT, limit=0), str(table))
        return [
            base.ColumnInfo(
                name, column.type, native, bool(nullable), bool(pk), _declared(native, column)
            )
            for column, (name, native, nullable, pk) in zip(
                planned, self._column_rows(table), strict=True
            )
        ]

    def unique_indexes(self, table: base.TableRef) -> dict[str, tuple[str, ...]]:
        """Unique indexes but PRIMARY, name → columns in index order (information_schema)."""
        found: dict[str, list[str]] = {}
        for name, column in self._query(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0"
            " AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            [self._schema(table), table.name],
            what=str(table),
        ):
            found.setdefault(str(name), []).append(str(column))
        return {name: tuple(columns) for name, columns in found.items()}

    def estimate_rows(self, table: base.TableRef) -> int | None:
        """InnoDB's estimate (information_schema.TABLES.TABLE_ROWS); None for views."""
        require_table(self, table)
        rows = self._query(
            "SELECT TABLE_ROWS FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            [self._schema(table), table.name],
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    # --- Readable ------------------------------------------------------------------------

    def _plan(self, query: str, label: str) -> list[types.ReadColumn]:
        """Plan a query's columns from a LIMIT 0 probe of its result's column definitions."""
        with self._shared.lock:
            conn = self._meta()
            try:
                with conn.cursor() as cur:
                    cur.execute(mysql_sql.probe(query))
                    fields = list(cur._result.fields or [])
                    planned = types.plan_read(fields)
                    return types.mark_utc(planned, self._utc_columns(cur, fields))
            except pymysql.Error as exc:
                raise self._failure(exc, query, label) from exc

    @staticmethod
    def _utc_columns(cur: Any, fields: list[Any]) -> set[int]:
        """Positions of DATETIME columns whose table column is marked as holding UTC."""
        wanted = {
            i: (f.db.decode() if isinstance(f.db, bytes) else f.db, f.org_table, f.org_name)
            for i, f in enumerate(fields)
            if f.type_code == types.DATETIME and f.org_table and f.org_name
        }
        if not wanted:
            return set()
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS"
            " WHERE COLUMN_COMMENT = %s AND TABLE_NAME IN %s",
            [UTC_MARK, sorted({t for _, t, _ in wanted.values()})],
        )
        marked = {tuple(row) for row in cur.fetchall()}
        return {i for i, where in wanted.items() if where in marked}

    def read(self, sql_text: str, batch_size: int) -> pa.RecordBatchReader:
        """Stream a query as Arrow batches of at most `batch_size` rows, types exact.

        connectorx never waits for its reader: a `Spill` drains it, holding a bounded
        amount in memory and the rest on disk until the destination takes it.
        """
        query = sql_text.strip().rstrip(";").strip()
        label = sql.source_label(query, DIALECT)
        planned = self._plan(query, label)
        schema = types.schema_of(planned)
        if returns_nothing(query, DIALECT):
            return pa.RecordBatchReader.from_batches(schema, iter(()))
        if self.snapshot_session is not None:
            _, batches = session_reads.read_batches(
                self.snapshot_session, query, batch_size, planned
            )
            return pa.RecordBatchReader.from_batches(schema, batches)
        if types.needs_sql(planned):
            query = mysql_sql.computed(query, planned)
        reader = self._start(query, batch_size, label)
        return pa.RecordBatchReader.from_batches(
            schema, self._stream(reader, planned, schema, label)
        )

    def _start(self, query: str, batch_size: int, label: str) -> Any:
        """connectorx's stream of one statement (it starts reading at once)."""
        import connectorx

        try:
            return connectorx.read_sql(
                self._cx_url(self.reach.addresses(self.address.host, self.address.port)[0]),
                query,
                return_type="arrow_stream",
                batch_size=max(1, batch_size),
                pre_execution_query=[_UTC],
            )
        except BaseException as exc:
            if not _failure(exc):
                raise
            raise _mapped(exc, self, label) from exc

    def _stream(
        self, reader: Any, planned: list[types.ReadColumn], schema: pa.Schema, label: str
    ) -> Iterator[pa.RecordBatch]:
        spill = Spill(iter(reader), reader.schema)
        self._spills.add(spill)
        try:
            for batch in spill:
                if batch.num_rows:
                    yield types.convert(batch.rename_columns(schema.names), planned, schema)
        except ConveyorError:
            raise
        except BaseException as exc:
            if not _failure(exc):
                raise
            raise _mapped(exc, self, label) from exc

    def _ssl(self) -> ssl.SSLContext | None:
        """pymysql's TLS: the stored certificates the connection names (`ssl_ca`,
        `ssl_cert`), else the system's authorities with `ssl`, else none."""
        if self.options.tls is not None:
            return ssl_context(self.options.tls)
        return ssl.create_default_context() if self.options.ssl else None

    def _cx_url(self, address: str) -> str:
        """connectorx's URL to `address`, an address of the host the policy vetted just now.

        With `ssl`, connectorx's `ssl-mode=REQUIRED` encrypts without verifying the
        certificate, so reaching the host by its address loses no check.
        """
        user = url_quote(self.address.user, safe="")
        secret = f":{url_quote(self.address.password, safe='')}" if self.address.password else ""
        database = url_quote(self.address.database, safe="")
        timeout = int(self.options.connect_timeout * 1000)
        query = f"tcp_connect_timeout_ms={timeout}"
        if self.options.ssl or self.options.tls is not None:
            query += "&ssl-mode=REQUIRED"
        host = f"[{address}]" if ":" in address else address
        return f"mysql://{user}{secret}@{host}:{self.address.port}/{database}?{query}"

    # --- Writable / SqlExecutor -------------------------------------------------------------

    def ensure_schema(self, schema: str) -> None:
        """CREATE DATABASE IF NOT EXISTS, in utf8mb4."""
        self._query(
            f"CREATE DATABASE IF NOT EXISTS {sql.quote(schema, DIALECT)} CHARACTER SET utf8mb4"
        )

    def session(self) -> Any:
        """A pymysql session of its own (UTC, utf8mb4, to a vetted address), for work that
        holds a session: change data capture's snapshot, positions and staged rows."""
        return self._connect()

    def is_mariadb(self) -> bool:
        """Whether the server is MariaDB (not MySQL)."""
        return self._is_mariadb()

    def _is_mariadb(self) -> bool:
        if self._mariadb is None:
            with self._shared.lock:
                self._mariadb = _is_mariadb(self._meta())
        return self._mariadb

    def create_table(self, table: base.TableRef, layout: base.TableSchema) -> None:
        """CREATE TABLE in utf8mb4 with a binary, no-pad collation: text compares exactly."""
        collation = "utf8mb4_nopad_bin" if self._is_mariadb() else "utf8mb4_0900_bin"
        ddl = sql.create_table_sql(table, layout, DIALECT, column_type)
        self._query(f"{ddl} DEFAULT CHARSET=utf8mb4 COLLATE={collation}", what=str(table))

    def open_writer(self, table: base.TableRef, schema: pa.Schema) -> base.BatchWriter:
        """Start one LOAD DATA LOCAL INFILE into the table, committed by `close`; the server
        must take each batch within the command limit."""
        require_table(self, table)
        return LoadWriter(
            lambda path: self._connect(local_file=path),
            table,
            schema,
            lambda exc: map_error(exc, self.address, str(table)),
            timeout=self._limit,
        )

    def replace_table(self, staging: base.TableRef, target: base.TableRef) -> None:
        """Swap staging in with one atomic RENAME TABLE, then drop the old table."""
        require_table(self, staging)
        if not self.table_exists(target):
            self._query(f"RENAME TABLE {_name(staging)} TO {_name(target)}", what=str(target))
            return
        old = target.with_name(f"_conveyor_old_{target.name}"[:64])
        self._query(sql.drop_table_sql(old, DIALECT))
        self._query(
            f"RENAME TABLE {_name(target)} TO {_name(old)}, {_name(staging)} TO {_name(target)}",
            what=str(target),
        )
        self._query(sql.drop_table_sql(old, DIALECT))

    def drop_table(self, table: base.TableRef) -> None:
        """DROP TABLE IF EXISTS."""
        self._query(sql.drop_table_sql(table, DIALECT), what=str(table))

    def execute(self, sql_text: str) -> int:
        """Run one statement; return the rows it changed."""
        return self._transaction([sql_text])[0]

    def execute_in_transaction(self, statements: Sequence[str]) -> list[int]:
        """Run statements in one transaction (DDL commits implicitly in MySQL)."""
        return self._transaction(statements)

    def type_sql(self, arrow_type: pa.DataType, key: bool = False) -> str:
        """The DDL type of a column the engine adds or widens, as `create_table` declares it."""
        return column_type(arrow_type, key)


_IMPLICIT_COMMIT = frozenset({"ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE"})


def _declared(native: str, column: types.ReadColumn) -> type_map.Declared | None:
    """A column's declared type; a DATETIME marked as holding UTC instants keeps its mark."""
    zoned = pa.types.is_timestamp(column.type) and column.type.tz is not None
    if zoned and native.lower().startswith("datetime"):
        marked = f"{native} COMMENT '{UTC_MARK}'"
        return type_map.Declared(type_map.Logical("timestamptz"), marked, DIALECT)
    return type_map.declared(DIALECT, native, column.type)


def _is_mariadb(conn: Any) -> bool:
    """Whether a connection's server is MariaDB (it says so in its version)."""
    return "mariadb" in str(conn.get_server_info()).lower()


def _commits_implicitly(statement: str) -> bool:
    """Whether MySQL commits the open transaction around this statement (DDL)."""
    words = statement.lstrip().split(None, 1)
    return bool(words) and words[0].upper() in _IMPLICIT_COMMIT


def _name(table: base.TableRef) -> str:
    return sql.table_sql(table, DIALECT)


def _failure(exc: BaseException) -> bool:
    """An error of the read (connectorx's Rust panics are BaseExceptions), not an interrupt."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _mapped(exc: BaseException, connector: MySQLConnector, label: str) -> ConveyorError:
    if isinstance(exc, ConveyorError):
        return exc
    return map_error(exc, connector.address, label)
