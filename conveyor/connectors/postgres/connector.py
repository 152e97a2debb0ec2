"""The PostgreSQL connector: binary COPY both ways through ADBC, DDL through psycopg 3.

Reads stream ADBC's Arrow batches (the server sends `COPY (query) TO STDOUT` in binary),
converted per batch to exact types by `types`. A load is one binary COPY fed by
a background `Feed`, so a whole stream costs one statement. Metadata, DDL, swaps and
merges go through one psycopg connection with transactional DDL: `replace_table` drops
and renames in one transaction, so readers see the old table or the new one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import psycopg
import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql, type_map
from conveyor.connectors.base import (
    BatchWriter,
    ColumnInfo,
    Relay,
    TableInfo,
    TableRef,
    TableSchema,
    Targets,
)
from conveyor.connectors.command_limit import interrupt_after
from conveyor.connectors.postgres import sql as pgsql
from conveyor.connectors.postgres import types
from conveyor.connectors.postgres.async_connect import connect_kwargs, import_meanwhile
from conveyor.connectors.postgres.conninfo import file_params
from conveyor.connectors.postgres.errors import map_error
from conveyor.connectors.postgres.load import CopyWriter, defer_column_types, defer_primary_key
from conveyor.connectors.postgres.session import PostgresSession
from conveyor.connectors.server import returns_nothing
from conveyor.errors import ConfigurationError, ConveyorError

DIALECT = types.DIALECT
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
_MIN_PARTITION_PAGES = 1024  # 8 MB: smaller tables are read in one piece
_BATCH_HINT_OPTION = "adbc.postgresql.batch_size_hint_bytes"
_BATCH_HINT_BYTES = 4 * 1024 * 1024
"""The size of the batches ADBC decodes. Its default (16 MiB) kept a quarter more memory
in flight through a PostgreSQL → PostgreSQL copy for no gain in speed, and made the
writer wait longer for the first batch."""


class PostgresConnector(PostgresSession):
    """A PostgreSQL database: read, write, discover, merge, run SQL, split reads."""

    dialect = DIALECT
    enforces_keys = True  # primary keys are real constraints: the engine may upsert

    # --- Connector -----------------------------------------------------------------------

    def targets(self) -> Targets:
        """The servers (every host of `host1,host2`) and the local files libpq would read."""
        return Targets(paths=file_params(self.address.params), hosts=tuple(self._target.hosts))

    def test(self) -> None:
        """Connect and run SELECT 1 within the connect timeout."""
        self._query("SELECT 1")

    # --- Discoverable / Estimable ----------------------------------------------------------

    def list_tables(self) -> list[TableInfo]:
        """Tables, views and foreign tables of every non-system schema, with row estimates.

        Tables of the connection's current schema (usually `public`) have no schema in
        their reference, so `REPLICATE [orders]` finds `public.orders`; their
        `default_schema` names it.
        """
        rows = self._query(
            "SELECT n.nspname, c.relname, c.relkind, c.reltuples, n.nspname = current_schema()"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition"
            " AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_temp%%'"
            " AND n.nspname NOT LIKE 'pg\\_toast%%' ORDER BY 1, 2",
            [list(_SYSTEM_SCHEMAS)],
        )
        return [
            TableInfo(
                TableRef(name, None if current else schema),
                "view" if kind in ("v", "m") else "table",
                int(tuples) if kind in ("r", "p", "m") and tuples >= 0 else None,
                default_schema=schema if current else None,
            )
            for schema, name, kind, tuples, current in rows
        ]

    def table_exists(self, table: TableRef) -> bool:
        """Whether a table or view of that name exists (unqualified: on the search path)."""
        return self._oid(table) is not None

    def columns(self, table: TableRef) -> list[ColumnInfo]:
        """Columns with the Arrow types a read returns, declared types and primary key.

        Built-in types are declared verbatim to another PostgreSQL destination (user types
        such as enums and domains exist only in their own database).
        """
        oid = self._require(table)
        schema = self.read(sql.select_sql(table, None, DIALECT, limit=0), 1).schema
        return [
            ColumnInfo(
                name,
                field.type,
                native,
                not notnull,
                bool(pk),
                type_map.declared(DIALECT, native, field.type, verbatim=builtin),
            )
            for field, (name, native, _, _, notnull, pk, builtin, _) in zip(
                schema, self._attributes(oid), strict=True
            )
        ]

    def estimate_rows(self, table: TableRef) -> int | None:
        """The planner's estimate (pg_class.reltuples); None before the first ANALYZE."""
        oid = self._require(table)
        rows = self._query("SELECT reltuples FROM pg_class WHERE oid = %s", [oid])
        return int(rows[0][0]) if rows and rows[0][0] >= 0 else None

    # --- Readable / Partitionable --------------------------------------------------------

    def _describe(self, query: str, label: str) -> list[types.ReadColumn]:
        """Plan a query's columns from the server's description of its result (no rows run),
        canceled past the command limit (it waits while another session locks a table)."""
        conn = self._adbc()
        try:
            with conn.cursor() as cur, interrupt_after(self._limit, cur.adbc_cancel, query, label):
                described = cur.adbc_execute_schema(query)
        except Exception as exc:
            self._give_back(conn, reusable=False)
            raise map_error(exc, self.address, label) from exc
        self._give_back(conn, reusable=True)
        return types.plan_read(described, self.options.unconstrained_numeric)

    def read(self, sql_text: str, batch_size: int) -> pa.RecordBatchReader:
        """Stream a query as Arrow batches of at most `batch_size` rows, types exact."""
        query = sql_text.strip().rstrip(";").strip()
        label = sql.source_label(query, DIALECT)
        planned = self._describe(query, label)
        if returns_nothing(query, DIALECT):
            return pa.RecordBatchReader.from_batches(types.schema_of(planned), iter(()))
        if types.needs_casts(planned):
            query = pgsql.with_casts(query, planned)
        conn = self._adbc()
        cur = conn.cursor()
        try:
            cur.adbc_statement.set_options(**{_BATCH_HINT_OPTION: str(_BATCH_HINT_BYTES)})
            cur.execute(query)
            reader = cur.fetch_record_batch()
        except BaseException as exc:
            cur.close()
            self._give_back(conn, reusable=False)
            if isinstance(exc, Exception):
                raise map_error(exc, self.address, label) from exc
            raise
        schema = types.schema_of(planned)
        size = max(1, batch_size)

        def batches() -> Iterator[pa.RecordBatch]:
            finished = False
            try:
                for batch in reader:
                    converted = types.convert(batch, planned, schema)
                    for offset in range(0, converted.num_rows, size):
                        yield converted.slice(offset, size)
                finished = True
            except ConveyorError:
                raise
            except Exception as exc:
                raise map_error(exc, self.address, label) from exc
            finally:
                reader.close()
                cur.close()
                self._give_back(conn, reusable=finished)  # a read stopped early is mid-COPY

        return pa.RecordBatchReader.from_batches(schema, batches())

    def partitions(self, table: TableRef, sql_text: str, count: int) -> list[str]:
        """Split a full-table SELECT into `count` disjoint ranges of physical blocks (ctid).

        TID range scans (PostgreSQL 14+) read each range without an index; the last range
        is open-ended so rows in blocks added meanwhile are not missed. Older servers and
        partitioned tables split on an integer primary key's min..max instead.
        """
        oid = self._require(table)
        kind, pages, version = self._query(
            "SELECT relkind, relpages, current_setting('server_version_num')::int"
            " FROM pg_class WHERE oid = %s",
            [oid],
        )[0]
        if count <= 1:
            return [sql_text]
        if kind == "r" and version >= 140000:
            if pages < _MIN_PARTITION_PAGES:
                return [sql_text]
            bounds = [pages * i // count for i in range(1, count)]
            return pgsql.ranged(sql_text, exp.column("ctid"), bounds, lambda b: f"({b},0)", "tid")
        return self._key_partitions(table, oid, sql_text, count)

    def _key_partitions(self, table: TableRef, oid: int, sql_text: str, count: int) -> list[str]:
        keys = [(name, base) for name, _, base, _, _, pk, *_ in self._attributes(oid) if pk]
        if len(keys) != 1 or keys[0][1] not in ("int2", "int4", "int8"):
            return [sql_text]
        key = sql.column(keys[0][0])
        bounds_sql = exp.select(exp.func("min", key), exp.func("max", key)).from_(
            sql.table_expr(table)
        )
        low, high = self._query(bounds_sql.sql(dialect=DIALECT))[0]
        if low is None or high - low < count * 10_000:
            return [sql_text]
        step = (high - low + 1) / count
        bounds = [low + math.ceil(step * i) for i in range(1, count)]
        return pgsql.ranged(sql_text, key, bounds, str, "bigint")

    # --- Writable / SqlExecutor -------------------------------------------------------------

    def ensure_schema(self, schema: str) -> None:
        """CREATE SCHEMA IF NOT EXISTS (a concurrent creation by another run is fine)."""
        statement = f"CREATE SCHEMA IF NOT EXISTS {sql.quote(schema, DIALECT)}"
        try:
            self._query(statement)
        except ConveyorError:
            if not self._query("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]):
                raise

    def create_table(self, table: TableRef, layout: TableSchema) -> None:
        """CREATE TABLE with PostgreSQL's exact counterparts of the layout's Arrow types."""
        self._query(
            sql.create_table_sql(table, layout, DIALECT, types.column_type), what=str(table)
        )
        self._created.add(table)

    def relays_from(self, source: object) -> bool:
        """Whether another connection's rows could come as binary COPY bytes (`relay`)."""
        if not isinstance(source, PostgresConnector):
            return False
        if not (self.options.binary_relay and source.options.binary_relay):
            return False
        if source.in_snapshot:  # the relay's own connections do not import the snapshot
            return False
        return connect_kwargs(source) is not None and connect_kwargs(self) is not None

    def relay_from(self, source: object, queries: Sequence[str], table: TableRef) -> Relay | None:
        """Another PostgreSQL connection's rows as binary COPY bytes, when types match.

        No decoding at all where the table's columns have exactly the types of the
        query's; None (the Arrow path) anywhere else.
        """
        if not self.relays_from(source):
            return None
        from conveyor.connectors.postgres import relay  # asyncpg is loaded only to relay

        assert isinstance(source, PostgresConnector)
        import_meanwhile("asyncpg")  # while `prepare` waits on both servers' catalogs
        return relay.prepare(source, self, queries, table)

    def open_writer(self, table: TableRef, schema: pa.Schema) -> BatchWriter:
        """Start one binary COPY into the table, fed batch by batch, committed by `close`."""
        oid = self._require(table)
        fresh = table in self._created  # made by this connection, still empty
        attributes = {row[0]: row for row in self._attributes(oid)}
        missing = [f.name for f in schema if f.name not in attributes]
        if missing:
            raise ConfigurationError(f"table {str(table)!r} has no column {missing[0]!r}")
        retype = None
        if fresh:
            retype = defer_column_types(self, table, schema, attributes)
            if retype is not None:
                attributes = {row[0]: row for row in self._attributes(oid)}
        wire = []
        for field in schema:
            _, _, base, typmod, *_ = attributes[field.name]
            precision, scale = _numeric_typmod(typmod) if base == "numeric" else (None, None)
            wire.append(types.wire_type(base, precision, scale))
        restore_key = defer_primary_key(self, table, oid) if fresh else None
        self._created.discard(table)
        return CopyWriter(self, table, schema, wire, restore_key, retype)

    def replace_table(self, staging: TableRef, target: TableRef) -> None:
        """Drop target and rename staging in one transaction; readers see old or new."""
        staging_oid = self._require(staging)
        constraint = self._query(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s AND contype = 'p'",
            [staging_oid],
        )
        statements = [sql.drop_table_sql(target, DIALECT)]
        current = staging
        if (staging.schema or None) != (target.schema or None):
            schema = target.schema or self._query("SELECT current_schema()")[0][0]
            statements.append(
                f"ALTER TABLE {sql.table_sql(staging, DIALECT)} SET SCHEMA {sql.quote(schema, DIALECT)}"
            )
            current = TableRef(staging.name, schema)
        statements.append(sql.rename_table_sql(current, target.name, DIALECT))
        if constraint:
            renamed = target.with_name(target.name)
            statements.append(
                f"ALTER TABLE {sql.table_sql(renamed, DIALECT)} RENAME CONSTRAINT "
                f"{sql.quote(constraint[0][0], DIALECT)} TO "
                f"{sql.quote(target.name[:58] + '_pkey', DIALECT)}"
            )
        self._transaction(statements, str(target))

    def drop_table(self, table: TableRef) -> None:
        """DROP TABLE IF EXISTS."""
        self._query(sql.drop_table_sql(table, DIALECT), what=str(table))
        self._created.discard(table)

    def execute(self, sql_text: str) -> int:
        """Run one statement on its own (autocommit: VACUUM and the like work); rows changed."""
        with self._shared.lock:
            conn = self._meta()
            try:
                return int(conn.execute(sql_text).rowcount)
            except psycopg.Error as exc:
                raise self._failure(exc, sql_text) from exc

    def execute_in_transaction(self, statements: Sequence[str]) -> list[int]:
        """Run statements in one transaction, all or nothing; the rows each one changed."""
        return self._transaction(statements)

    def type_sql(self, arrow_type: pa.DataType, key: bool = False) -> str:
        """The DDL type of a column the engine adds or widens, as `create_table` declares it."""
        return types.column_type(arrow_type, key)


def _numeric_typmod(typmod: int) -> tuple[int | None, int | None]:
    if typmod < 4:
        return None, None
    return ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0x7FF
