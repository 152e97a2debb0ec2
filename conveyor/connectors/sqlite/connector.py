"""The SQLite connector: a database file, read and written as Arrow through ADBC.

Every connection is ADBC's (one SQLite library in the process: two copies of SQLite on
one file break each other's POSIX locks). Reads are planned by `types` so types
stay exact; writes go through `adbc_ingest` into tables created with declared types that
read back as the same Arrow types. DDL, swaps and merges run in explicit transactions.

Each open vets the database file (and the journal files SQLite keeps beside it) with the
connection's `Reach` and opens the resolved path, never the URL's text: SQLite would
read `file:…` as a URI. SQL from outside (reads, counts, statements) is vetted by
`statements`, which refuses ATTACH and the like unless the reach allows them.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import adbc_driver_sqlite
import adbc_driver_sqlite.dbapi as adbc
import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import base, sql, type_map
from conveyor.connectors.configured import Configured
from conveyor.connectors.metadata import SharedConnection, require_table
from conveyor.connectors.sqlite.options import SQLiteOptions
from conveyor.connectors.sqlite.statements import vet
from conveyor.connectors.sqlite.types import (
    KINDS,
    PROBED,
    PROBED_DECLARED,
    PlannedColumn,
    convert_batch,
    kind_of_declared,
    read_select,
    storable,
)
from conveyor.errors import (
    ConfigurationError,
    ConnectorError,
    ConveyorError,
    DataError,
    InvalidInput,
    SourceUnavailable,
    TableNotFound,
)

DIALECT = "sqlite"
_NO_TABLE = re.compile(r"no such table: ([^\n]+)")
SIDE_FILES = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a database: they must be as reachable as the database."""


def parse_url(url: str) -> str:
    """The database path of `sqlite:///path` (relative) or `sqlite:////abs/path`."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0].lower() != "sqlite" or not rest.startswith("/"):
        raise InvalidInput(f"{url!r} is not a sqlite:///path URL", field="url")
    path = rest[1:].split("?", 1)[0]
    if not path or path == ":memory:":
        raise InvalidInput("a SQLite connection needs a database file path", field="url")
    if path[:5].lower() == "file:":
        raise InvalidInput(
            f"{path!r} is a SQLite URI; a SQLite connection takes a database file path",
            field="url",
        )
    return path


def map_error(exc: Exception, what: str = "") -> ConveyorError:
    """The Conveyor error an ADBC/SQLite failure means; `what` names the table or query."""
    if isinstance(exc, ConveyorError):
        return exc
    message = str(exc).split("\nquery:")[0]
    missing = _NO_TABLE.search(message)
    if missing:
        name = missing.group(1).strip()
        return TableNotFound(f"table {name!r} does not exist", table=name)
    lowered = message.lower()
    if "locked" in lowered or "busy" in lowered:
        return SourceUnavailable(f"SQLite database is busy: {message}")
    if "not a database" in lowered or "malformed" in lowered:
        return DataError(f"not a readable SQLite database: {message}")
    if any(s in lowered for s in ("syntax error", "no such column", "already exists")):
        return ConfigurationError(f"{what}: {message}" if what else message)
    if "constraint" in lowered or "mismatch" in lowered:
        return DataError(f"{what}: {message}" if what else message)
    return ConnectorError(f"{what}: {message}" if what else message)


class SQLiteConnector(Configured[SQLiteOptions]):
    """A SQLite database file: read, write, discover, merge and run SQL."""

    dialect = DIALECT
    enforces_keys = True  # primary keys are real constraints: the engine may upsert
    options_model = SQLiteOptions

    def _configure(self) -> None:
        self.path = parse_url(self.url)
        self._shared: SharedConnection[Any] = SharedConnection()

    # --- connections ---------------------------------------------------------------------

    def _database(self) -> str:
        """The database file's resolved path, once the reach allows it and its journals."""
        real = self.reach.check_path(self.path, "SQLite database")
        for suffix in SIDE_FILES:
            self.reach.check_path(real + suffix, "SQLite database file")
        return real

    def _exists(self) -> bool:
        return os.path.isfile(self._database())

    def _not_found(self) -> SourceUnavailable:
        """What reading a database file that does not exist answers (test, tables, reads)."""
        created = (
            "; as a destination it is created by the first write" if self.options.create else ""
        )
        return SourceUnavailable(
            f"SQLite database file {self.path!r} not found (it does not exist){created}"
        )

    def _require_file(self) -> None:
        if not self._exists():
            raise self._not_found()

    def _open(self, *, for_write: bool = False) -> Any:
        """A new ADBC connection in autocommit mode, WAL, waiting on locks.

        A database file that does not exist is created by a write when `create` is on,
        with its folder (the folders the reach allows: one outside it is refused, not made).
        """
        database = self._database()
        if not os.path.isfile(database):
            if not (for_write and self.options.create):
                raise self._not_found()
            self.reach.make_folder(os.path.dirname(database), "folder of SQLite database")
        try:
            conn = adbc.connect(database, autocommit=True)
        except Exception as exc:
            raise SourceUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        try:
            with conn.cursor() as cur:
                cur.execute(f"PRAGMA busy_timeout = {int(self.options.timeout * 1000)}")
                cur.execute("SELECT count(*) FROM sqlite_master")
                cur.fetchall()
        except Exception as exc:
            conn.close()
            raise map_error(exc, self.path) from exc
        with contextlib.suppress(Exception), conn.cursor() as cur:
            cur.execute("PRAGMA journal_mode = WAL")  # fails harmlessly on read-only files
            cur.fetchall()
        return conn

    def _meta(self, *, write: bool = False) -> Any:
        """The connection metadata and DDL share (callers hold its lock)."""
        return self._shared.get(lambda: self._open(for_write=write))

    def _query(
        self, statement: str, params: Sequence[Any] = (), *, write: bool = False
    ) -> list[Any]:
        """Run one statement on the shared connection; return its rows."""
        with self._shared.lock, self._meta(write=write).cursor() as cur:
            try:
                cur.execute(statement, parameters=list(params) or None)
                return list(cur.fetchall()) if cur.description else []
            except Exception as exc:
                raise map_error(exc) from exc

    def _transaction(self, statements: Sequence[str]) -> None:
        with self._shared.lock, self._meta(write=True).cursor() as cur:
            try:
                sql.run_in_transaction(cur.execute, statements, begin="BEGIN IMMEDIATE")
            except Exception as exc:
                raise map_error(exc) from exc

    @staticmethod
    def _check_schema(table: base.TableRef) -> None:
        if table.schema not in (None, "main"):
            raise ConfigurationError(
                f"SQLite has no schema {table.schema!r}; leave the destination schema empty"
            )

    # --- Connector ---------------------------------------------------------------------

    def targets(self) -> base.Targets:
        """The database file."""
        return base.Targets(paths=(self.path,))

    def test(self) -> None:
        """Open the database and run SELECT 1; a file that does not exist is not found."""
        self._require_file()
        self._query("SELECT 1")

    def close(self) -> None:
        """Close the shared connection."""
        self._shared.close()

    # --- Discoverable / Estimable ----------------------------------------------------------

    def list_tables(self) -> list[base.TableInfo]:
        """Tables and views (in `main`), with row counts for tables."""
        self._require_file()
        rows = self._query(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        return [
            base.TableInfo(
                base.TableRef(name),
                kind,
                self.estimate_rows(base.TableRef(name)) if kind == "table" else None,
                default_schema="main",
            )
            for name, kind in rows
        ]

    def table_exists(self, table: base.TableRef) -> bool:
        """Whether a table or view of that name exists (names are case-insensitive); a
        database file not created yet holds none."""
        self._check_schema(table)
        if not self._exists():
            return False
        rows = self._query(
            "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name = ? COLLATE NOCASE",
            [table.name],
        )
        return bool(rows)

    def columns(self, table: base.TableRef) -> list[base.ColumnInfo]:
        """Columns with the Arrow types a read returns, declared types and primary key."""
        self._require_file()
        require_table(self, table)
        info = self._query(
            'SELECT name, type, "notnull", pk FROM pragma_table_info(?)', [table.name]
        )
        with self._shared.lock:
            query = sql.select_sql(table, None, DIALECT)
            planned, _ = self._plan(self._meta(), query, keep_view=False)
        return [
            base.ColumnInfo(
                col.name,
                col.type,
                declared or "",
                not (notnull or pk),
                bool(pk),
                type_map.declared(DIALECT, declared, col.type) if declared else None,
            )
            for col, (_, declared, notnull, pk) in zip(planned, info, strict=True)
        ]

    def count_rows(self, sql_text: str) -> int:
        """A COUNT(*) query's value, in one execution (see `CountsRows`)."""
        return int(self._query(vet(sql_text, self.reach))[0][0])

    def estimate_rows(self, table: base.TableRef) -> int | None:
        """The table's row count (cheap enough in SQLite for progress reporting)."""
        require_table(self, table)
        try:
            return int(self._query(sql.count_sql(table, DIALECT))[0][0])
        except ConnectorError:
            return None

    # --- Readable ------------------------------------------------------------------------

    def _plan(
        self, conn: Any, query: str, *, keep_view: bool = True
    ) -> tuple[list[PlannedColumn], str]:
        """Plan a query on `conn`: typed columns and the stable-typed SELECT over a TEMP VIEW."""
        view = "_conveyor_q_" + uuid.uuid4().hex
        with conn.cursor() as cur:
            try:
                cur.execute(f"CREATE TEMP VIEW {sql.quote(view, DIALECT)} AS {query}")
                cur.execute("SELECT name, type FROM pragma_table_info(?)", parameters=[view])
                declared = list(cur.fetchall())
                kinds = [kind_of_declared(decl or "") for _, decl in declared]
                probes = [
                    exp.select(exp.func("typeof", sql.column(name)))
                    .from_(sql.quote(view, DIALECT))
                    .where(exp.Not(this=exp.Is(this=sql.column(name), expression=exp.Null())))
                    .limit(1)
                    .subquery()
                    for (name, _), kind in zip(declared, kinds, strict=True)
                    if kind is None
                ]
                found: Iterator[str | None] = iter([])
                if probes:
                    cur.execute(exp.select(*probes).sql(dialect=DIALECT))
                    found = iter(cur.fetchall()[0])
            except Exception as exc:
                raise map_error(exc, sql.source_label(query, DIALECT)) from exc
            finally:
                if not keep_view:
                    cur.execute("DROP VIEW IF EXISTS temp." + sql.quote(view, DIALECT))
        columns = []
        for (name, declared_type), kind in zip(declared, kinds, strict=True):
            if kind is None:
                default = PROBED_DECLARED[(declared_type or "").strip().upper()]
                probed = PROBED.get(next(found) or default, default)
                kind = probed, KINDS[probed].arrow
            columns.append(PlannedColumn(name, kind[0], kind[1]))
        return columns, read_select(columns, view)

    def read(self, sql_text: str, batch_size: int) -> pa.RecordBatchReader:
        """Stream a query's rows as Arrow batches of `batch_size` rows, types exact."""
        query = vet(sql_text, self.reach).strip().rstrip(";").strip()
        label = sql.source_label(query, DIALECT)
        conn = self._open()
        try:
            columns, select = self._plan(conn, query)
        except BaseException:
            conn.close()
            raise
        schema = pa.schema([pa.field(c.name, c.type) for c in columns])

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                with conn.cursor() as cur:
                    option = adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value
                    cur.adbc_statement.set_options(**{option: str(max(1, batch_size))})
                    try:
                        cur.execute(select)
                        for batch in cur.fetch_record_batch():
                            yield convert_batch(batch, columns, schema, label)
                    except ConveyorError:
                        raise
                    except Exception as exc:
                        raise map_error(exc, label) from exc
            finally:
                conn.close()

        return pa.RecordBatchReader.from_batches(schema, batches())

    # --- Writable / SqlExecutor -------------------------------------------------------------

    def ensure_schema(self, schema: str) -> None:
        """SQLite has one schema, `main`; any other is a configuration error."""
        self._check_schema(base.TableRef("_", schema))

    def create_table(self, table: base.TableRef, layout: base.TableSchema) -> None:
        """CREATE TABLE with declared types that read back as the layout's Arrow types."""
        self._check_schema(table)
        self._query(sql.create_table_sql(table, layout, DIALECT), write=True)

    def open_writer(self, table: base.TableRef, schema: pa.Schema) -> base.BatchWriter:
        """Bulk-append through ADBC ingest; each batch is committed as it is written."""
        self._check_schema(table)
        require_table(self, table)
        return _Writer(self._open(for_write=True), table)

    def replace_table(self, staging: base.TableRef, target: base.TableRef) -> None:
        """DROP target and RENAME staging in one transaction; readers see old or new."""
        self._check_schema(target)
        require_table(self, staging)
        self._transaction(sql.replace_statements(staging, target, DIALECT))

    def drop_table(self, table: base.TableRef) -> None:
        """DROP TABLE IF EXISTS (a missing database file holds no table)."""
        self._check_schema(table)
        if self._exists():
            self._query(sql.drop_table_sql(table, DIALECT), write=True)

    def execute(self, sql_text: str) -> int:
        """Run one statement; return the rows it changed."""
        return self.execute_in_transaction([sql_text])[0]

    def execute_in_transaction(self, statements: Sequence[str]) -> list[int]:
        """Run statements in one (immediate) transaction; the rows each one changed."""
        statements = [vet(text, self.reach) for text in statements]
        counts: list[int] = []
        with self._shared.lock, self._meta(write=True).cursor() as cur:

            def run(text: str) -> None:
                cur.execute(text)
                if cur.description:
                    cur.fetchall()
                cur.execute("SELECT changes()")
                counts.append(int(cur.fetchone()[0]))

            try:
                sql.run_in_transaction(run, statements, begin="BEGIN IMMEDIATE")
            except Exception as exc:
                raise map_error(exc) from exc
        return counts[1 : 1 + len(statements)]


class _Writer:
    """An ADBC ingest into one table, one committed append per batch."""

    def __init__(self, conn: Any, table: base.TableRef) -> None:
        self._conn = conn
        self._cursor = conn.cursor()
        self._table = table
        self._bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        rows = storable(sql.nested_to_json(batch))
        try:
            self._cursor.adbc_ingest(self._table.name, rows, mode="append")
        except Exception as exc:
            raise map_error(exc, str(self._table)) from exc
        self._bytes += batch.nbytes

    def close(self) -> int:
        self.abort()
        return self._bytes

    def abort(self) -> None:
        if self._conn is not None:
            self._cursor.close()
            self._conn.close()
            self._conn = None
