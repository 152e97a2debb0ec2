"""In-memory fakes for tests: `memory://name` connections that really behave like databases.

Tables are immutable Arrow tables in a process-wide dictionary keyed by the URL's name,
so two connectors on the same URL see the same data. Every change replaces a table under
a lock, so a reader (which takes a snapshot) sees a table before or after a change, never
during one. Queries run in an in-memory DuckDB over the snapshot, in DuckDB's dialect.

`memory://` is not a built-in scheme (its data would vanish with each run's process): a
test adds `SPEC` to its own process with `conveyor.connectors.registry.register(SPEC)`,
or to every process it starts (a server and its run processes) as a plugin, with the
entry point `memory = conveyor.testing:SPEC` in the `conveyor.connectors` group.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from conveyor.connectors import sql
from conveyor.connectors.arrow_types import projected_columns, restore, restored_schema, to_duckdb
from conveyor.connectors.base import BatchWriter, ColumnInfo, TableInfo, TableRef, TableSchema
from conveyor.connectors.configured import Configured
from conveyor.connectors.duckdb_access import affected_rows, map_error, scratch, stream
from conveyor.connectors.registry import ConnectorSpec
from conveyor.errors import ConfigurationError, DataError, InvalidInput, TableNotFound
from conveyor.policy import Reach

__all__ = [
    "SPEC",
    "MemoryConnector",
    "MemoryOptions",
    "memory_tables",
    "put_table",
    "reset_memory",
]


class MemoryOptions(BaseModel):
    """Options of `memory://name` connections (tests only)."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        default=None, description="Accepted and ignored: lets tests check secret handling."
    )


SPEC = ConnectorSpec(
    name="memory",
    schemes=("memory",),
    implementation="conveyor.testing:MemoryConnector",
    options=MemoryOptions,
    description="In-process tables for tests; nothing survives the process, and every "
    "workspace's memory://name is the same table: admins only.",
    admin_only=True,
)
"""The `memory://` connector's declaration, for tests to register (it is not built in)."""


@dataclass(frozen=True)
class _Stored:
    data: pa.Table
    primary_key: tuple[str, ...] = ()


_LOCK = threading.RLock()
_DATABASES: dict[str, dict[TableRef, _Stored]] = {}


def _database(name: str) -> dict[TableRef, _Stored]:
    with _LOCK:
        return _DATABASES.setdefault(name, {})


def memory_tables(name: str) -> dict[str, pa.Table]:
    """A snapshot of the tables of `memory://name`, keyed by `schema.table` or `table`."""
    with _LOCK:
        return {str(ref): stored.data for ref, stored in _database(name).items()}


def put_table(
    name: str,
    table: str,
    data: pa.Table,
    primary_key: Sequence[str] = (),
    schema: str | None = None,
) -> None:
    """Create or replace a table of `memory://name` (seeding a fake source)."""
    with _LOCK:
        _database(name)[TableRef(table, schema)] = _Stored(data, tuple(primary_key))


def reset_memory(name: str | None = None) -> None:
    """Forget every table of one memory database, or of all of them."""
    with _LOCK:
        if name is None:
            _DATABASES.clear()
        else:
            _DATABASES.pop(name, None)


def _parse_url(url: str) -> str:
    """The database name of `memory://name` (`default` when empty)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "memory":
        raise InvalidInput(f"{url!r} is not a memory://name URL", field="url")
    return (parts.netloc + parts.path).strip("/") or "default"


def _conform(data: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    """Rows as a table of `schema`, as INSERT by column name would store them."""
    extra = set(data.schema.names) - set(schema.names)
    if extra:
        raise DataError(f"{where}: no column(s) {sorted(extra)} in the table")
    columns = []
    for field in schema:
        if field.name in data.schema.names:
            try:
                values = pc.cast(data.column(field.name), field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(f"{where}: column {field.name!r}: {exc}") from exc
        else:
            values = pa.nulls(data.num_rows, field.type)
        if not field.nullable and values.null_count:
            raise DataError(f"{where}: NULL in NOT NULL column {field.name!r}")
        columns.append(values)
    return pa.Table.from_arrays(columns, schema=schema)


def _session(tables: dict[TableRef, _Stored], reach: Reach) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per table (zero-copy over the Arrow data), whose SQL
    reaches no file unless the connection has external access."""
    con = scratch(external_access=reach.external_access)
    for i, (ref, stored) in enumerate(sorted(tables.items())):
        if ref.schema:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {sql.quote(ref.schema, 'duckdb')}")
        con.register(f"__conveyor_t{i}", to_duckdb(stored.data))
        source = sql.select_sql(TableRef(f"__conveyor_t{i}"), None, "duckdb")
        con.execute(f"CREATE VIEW {sql.table_sql(ref, 'duckdb')} AS {source}")
    return con


class MemoryConnector(Configured[MemoryOptions]):
    """A fake database in process memory with every capability of a real SQL destination."""

    dialect = "duckdb"
    options_model = MemoryOptions

    def _configure(self) -> None:
        self.name = _parse_url(self.url)

    @property
    def _tables(self) -> dict[TableRef, _Stored]:
        return _database(self.name)

    def _get(self, table: TableRef) -> _Stored:
        with _LOCK:
            stored = self._tables.get(table)
        if stored is None:
            raise TableNotFound(f"table {str(table)!r} does not exist", table=str(table))
        return stored

    def test(self) -> None:
        """Always reachable."""

    def close(self) -> None:
        """Nothing to release."""

    def list_tables(self) -> list[TableInfo]:
        """Every table, with its exact row count."""
        with _LOCK:
            items = sorted(self._tables.items())
        return [TableInfo(ref, "table", stored.data.num_rows) for ref, stored in items]

    def columns(self, table: TableRef) -> list[ColumnInfo]:
        """The stored Arrow schema and primary key."""
        stored = self._get(table)
        keys = set(stored.primary_key)
        return [
            ColumnInfo(f.name, f.type, str(f.type), f.nullable, f.name in keys)
            for f in stored.data.schema
        ]

    def table_exists(self, table: TableRef) -> bool:
        """Whether the table exists."""
        with _LOCK:
            return table in self._tables

    def estimate_rows(self, table: TableRef) -> int | None:
        """The exact row count."""
        return int(self._get(table).data.num_rows)

    def read(self, sql_text: str, batch_size: int) -> pa.RecordBatchReader:
        """Run a DuckDB query over a snapshot of the tables, streamed in `batch_size` batches."""
        with _LOCK:
            snapshot = dict(self._tables)
        result = stream(_session(snapshot, self.reach), sql_text, batch_size)
        projected = projected_columns(sql_text)
        if projected is None or projected[0] not in snapshot:
            return result
        stored = snapshot[projected[0]].data.schema
        return restore(result, restored_schema(result.schema, projected[1], stored))

    def ensure_schema(self, schema: str) -> None:
        """Schemas exist as soon as a table names one."""

    def create_table(self, table: TableRef, layout: TableSchema) -> None:
        """Store an empty table of the layout."""
        with _LOCK:
            if table in self._tables:
                raise ConfigurationError(f"table {str(table)!r} already exists")
            empty = layout.arrow_schema.empty_table()
            self._tables[table] = _Stored(empty, tuple(layout.primary_key))

    def open_writer(self, table: TableRef, schema: pa.Schema) -> BatchWriter:
        """Collect batches; `close` appends them to the table at once."""
        self._get(table)
        return _Writer(self, table, schema)

    def replace_table(self, staging: TableRef, target: TableRef) -> None:
        """Make the staging table the target, in one step under the lock."""
        with _LOCK:
            stored = self._get(staging)
            del self._tables[staging]
            self._tables[target] = stored

    def drop_table(self, table: TableRef) -> None:
        """Forget the table if it exists."""
        with _LOCK:
            self._tables.pop(table, None)

    def execute(self, sql_text: str) -> int:
        """Run one DuckDB statement over copies of the tables and keep what it changed."""
        return self.execute_in_transaction([sql_text])[0]

    def execute_in_transaction(self, statements: Sequence[str]) -> list[int]:
        """Run DuckDB statements over copies of the tables; keep the result only if all pass."""
        with _LOCK:
            before = dict(self._tables)
            con = _session({}, self.reach)
            try:
                for ref, stored in before.items():
                    con.register("__conveyor_src", to_duckdb(stored.data))
                    target = sql.table_sql(ref, "duckdb")
                    if ref.schema:
                        con.execute(
                            f"CREATE SCHEMA IF NOT EXISTS {sql.quote(ref.schema, 'duckdb')}"
                        )
                    source = sql.select_sql(TableRef("__conveyor_src"), None, "duckdb")
                    con.execute(f"CREATE TABLE {target} AS {source}")
                    con.unregister("__conveyor_src")
                counts = [affected_rows(con.execute(statement)) for statement in statements]
                after = _export(con, before)
            except duckdb.Error as exc:
                raise map_error(exc) from exc
            finally:
                con.close()
            self._tables.clear()
            self._tables.update(after)
            return counts


def _export(
    con: duckdb.DuckDBPyConnection, before: dict[TableRef, _Stored]
) -> dict[TableRef, _Stored]:
    """Every table of a DuckDB session as stored tables, keeping known schemas and keys."""
    found: dict[TableRef, _Stored] = {}
    for schema, name in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
    ).fetchall():
        ref = TableRef(name, None if schema == "main" else schema)
        data = con.sql(sql.select_sql(ref, None, "duckdb")).to_arrow_table()
        old = before.get(ref)
        if old is not None and data.schema.names == old.data.schema.names:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                data = data.cast(old.data.schema)  # the stored types, when values still fit
        keys = old.primary_key if old is not None else ()
        found[ref] = _Stored(data, tuple(k for k in keys if k in data.schema.names))
    return found


def _check_unique(data: pa.Table, keys: Sequence[str], where: str) -> None:
    if not keys or not data.num_rows:
        return
    counts = data.group_by(list(keys)).aggregate([([], "count_all")])
    if pc.max(counts.column("count_all")).as_py() > 1:
        raise DataError(f"{where}: duplicate primary key values")


class _Writer:
    """Buffers batches; appends them on close, or drops them on abort."""

    def __init__(self, connector: MemoryConnector, table: TableRef, schema: pa.Schema) -> None:
        self._connector = connector
        self._table = table
        self._schema = schema
        self._batches: list[pa.RecordBatch] = []

    def write(self, batch: pa.RecordBatch) -> None:
        self._batches.append(batch)

    def close(self) -> int:
        where = str(self._table)
        with _LOCK:
            current = self._connector._get(self._table)
            added = [
                _conform(pa.Table.from_batches([b]), current.data.schema, where)
                for b in self._batches
            ]
            merged = pa.concat_tables([current.data, *added])
            _check_unique(merged, current.primary_key, str(self._table))
            self._connector._tables[self._table] = _Stored(merged, current.primary_key)
        written = sum(b.nbytes for b in self._batches)
        self._batches = []
        return int(written)

    def abort(self) -> None:
        self._batches = []
