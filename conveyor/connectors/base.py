"""The connector contract: a small core and capabilities a connector opts into.

The engine does batching, staging, swapping, merging and progress; a connector only
knows how to talk to its system. Every connector implements `Connector`; what else it
can do is declared by implementing the capability protocols below (checked with
`isinstance`), never by a base class full of `NotImplementedError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from conveyor.connectors.type_map import Declared, with_declared

__all__ = [
    "BatchWriter",
    "Capability",
    "ColumnInfo",
    "Connector",
    "CountsRows",
    "DeclaresTypes",
    "Discoverable",
    "Estimable",
    "HidesInternal",
    "LimitsCommands",
    "ListsUniqueIndexes",
    "Locatable",
    "Partitionable",
    "PreparesReads",
    "Readable",
    "Relay",
    "RelayDeclined",
    "RelayResult",
    "Relays",
    "SqlExecutor",
    "TableInfo",
    "TableRef",
    "TableSchema",
    "Targets",
    "Writable",
    "capabilities_of",
    "implements",
    "iterate_batches",
    "limit_commands",
]


class Capability(StrEnum):
    """What a connector can do, as the API shows it and checks jobs against up front.

    Derived from the protocols the connector's class implements (`capabilities_of`),
    never declared apart from them.
    """

    read = "read"
    write = "write"
    discover = "discover"
    merge = "merge"


@dataclass(frozen=True, order=True)
class TableRef:
    """A table (or file, for file connectors) in a connection, optionally in a schema."""

    name: str
    schema: str | None = None

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def with_name(self, name: str) -> TableRef:
        """The same schema, another table name."""
        return TableRef(name, self.schema)


@dataclass(frozen=True)
class ColumnInfo:
    """A column as the engine sees it: an Arrow type plus what the system calls it.

    `declared` is the column's declared type where discovery knows it (`type_map`): a
    destination creates the column with it rather than from the Arrow type.
    """

    name: str
    type: pa.DataType
    native_type: str = ""
    nullable: bool = True
    primary_key: bool = False
    declared: Declared | None = None

    @property
    def field(self) -> pa.Field:
        """The column as an Arrow field: type, nullability and declared type."""
        return with_declared(pa.field(self.name, self.type, self.nullable), self.declared)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly description for the API."""
        return {
            "name": self.name,
            "type": str(self.type),
            "native_type": self.native_type,
            "nullable": self.nullable,
            "primary_key": self.primary_key,
        }


@dataclass(frozen=True)
class TableInfo:
    """A table found by discovery."""

    ref: TableRef
    kind: str = "table"  # table | view | file
    row_estimate: int | None = None
    default_schema: str | None = None
    """The schema a table `ref` leaves unqualified is in: the connection's default one
    (PostgreSQL's current schema, the MySQL URL's database, DuckDB's and SQLite's `main`).
    The reference stays unqualified, so a table lands in a destination under its bare name."""

    @property
    def schema(self) -> str | None:
        """The schema the table is in, named even when it is the connection's default."""
        return self.ref.schema or self.default_schema

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly description for the API."""
        return {
            "name": self.ref.name,
            "schema": self.schema,
            "in_default_schema": self.ref.schema is None,  # named without its schema
            "kind": self.kind,
            "row_estimate": self.row_estimate,
        }


@dataclass(frozen=True)
class TableSchema:
    """A destination table's layout: its columns and primary key (NOT NULL everywhere)."""

    columns: Sequence[ColumnInfo]
    primary_key: Sequence[str] = field(default=())

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of rows in this table, declared types in the fields' metadata."""
        return pa.schema([c.field for c in self.columns])

    @classmethod
    def from_arrow(cls, schema: pa.Schema, primary_key: Sequence[str] = ()) -> TableSchema:
        """A table layout for rows of the given Arrow schema (declared types kept)."""
        keys = set(primary_key)
        columns = [
            ColumnInfo(
                f.name,
                f.type,
                nullable=f.nullable and f.name not in keys,
                primary_key=f.name in keys,
                declared=Declared.from_metadata(f.metadata),
            )
            for f in schema
        ]
        return cls(columns, tuple(primary_key))


@runtime_checkable
class Connector(Protocol):
    """What every connector does: check it can reach its system, and let go of it."""

    def test(self) -> None:
        """Raise a `ConnectorError` subclass naming what is wrong, or return when reachable."""

    def close(self) -> None:
        """Release connections and files."""


@dataclass(frozen=True)
class Targets:
    """The local paths and network hosts a connection will reach, as its URL names them."""

    paths: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()


@runtime_checkable
class Locatable(Protocol):
    """A connector that can say what it will reach without connecting.

    A service checks these against the policy when a connection is stored, so a refused
    path or host answers 403 at once instead of failing the first run; the connector
    checks again (resolved) when it opens them.
    """

    def targets(self) -> Targets:
        """The paths and hosts named by the URL and options (no I/O)."""


@runtime_checkable
class Discoverable(Protocol):
    """A connector that can list its tables and describe their columns."""

    def list_tables(self) -> list[TableInfo]:
        """Every table (or file) the connection holds."""

    def columns(self, table: TableRef) -> list[ColumnInfo]:
        """The columns of a table; raises `TableNotFound` when there is none."""


@runtime_checkable
class HidesInternal(Protocol):
    """A destination whose discovery hides the engine's own tables (a folder's staging
    tables are hidden dot-files), and lists them on request: a later run drops the
    staging tables a killed run left."""

    def internal_tables(self, prefix: str) -> list[TableRef]:
        """Every hidden table whose name starts with `prefix`, in any schema."""


@runtime_checkable
class Readable(Protocol):
    """A connector that streams query results as Arrow record batches."""

    dialect: str
    """The sqlglot dialect statements are transpiled to before `read`."""

    def read(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        """Run a SELECT written in `dialect` and stream its rows, types preserved."""

    def table_exists(self, table: TableRef) -> bool:
        """Whether the table exists."""


@runtime_checkable
class PreparesReads(Protocol):
    """A source whose reads need a connection of their own that is slow to open.

    The engine calls `prepare_read` as soon as it knows the source will be read, so
    the connect overlaps what the engine does meanwhile (the destination's connect and
    lookups) instead of waiting in front of the first read. Preparing never fails: a
    connect that failed is tried again by the read, which reports its error.
    """

    def prepare_read(self) -> None:
        """Start opening what the next read will use, in the background."""


@runtime_checkable
class Estimable(Protocol):
    """A source that can estimate how many rows a table has (for progress)."""

    def estimate_rows(self, table: TableRef) -> int | None:
        """A row count estimate, or None when it would be costly to know."""


class BatchWriter(Protocol):
    """An open bulk load into one table: write batches, then close."""

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one batch."""

    def close(self) -> int:
        """Flush everything; return the number of bytes written when known (else 0)."""

    def abort(self) -> None:
        """Give up: release what was opened; what was written may be left for `drop_table`."""


@runtime_checkable
class Writable(Protocol):
    """A connector that can hold tables the engine loads: create, bulk append, swap, drop."""

    dialect: str

    def table_exists(self, table: TableRef) -> bool:
        """Whether the table exists."""

    def ensure_schema(self, schema: str) -> None:
        """Create a namespace (database schema) if the system has such a thing."""

    def create_table(self, table: TableRef, layout: TableSchema) -> None:
        """Create an empty table with the layout's columns, types and primary key."""

    def open_writer(self, table: TableRef, schema: pa.Schema) -> BatchWriter:
        """Start a bulk append of rows of `schema` into an existing table."""

    def replace_table(self, staging: TableRef, target: TableRef) -> None:
        """Atomically make `staging` the new `target`; readers see the old or the new table."""

    def drop_table(self, table: TableRef) -> None:
        """Drop the table if it exists."""


@runtime_checkable
class SqlExecutor(Protocol):
    """A destination that runs SQL the engine writes (modes, transformations).

    The engine builds statements with sqlglot in the connector's `dialect`: merges,
    deletes, history versions, schema changes, transformations. A connector whose primary
    keys are real constraints says so with a class attribute `enforces_keys = True`; the
    engine then merges with INSERT … ON CONFLICT instead of delete-and-insert.
    """

    dialect: str

    def execute(self, sql: str) -> int:
        """Run one statement; return the number of affected rows when known (else -1)."""

    def execute_in_transaction(self, statements: Sequence[str]) -> list[int]:
        """Run statements in one transaction, all or nothing; the rows each one affected."""


@runtime_checkable
class LimitsCommands(Protocol):
    """A connector that stops any one of its statements running longer than a limit.

    The engine sets a job's `command_timeout` here before a load or a transformation;
    the connector then stops every statement it runs itself (lookups, DDL, swaps,
    merges, SQL it is asked to execute) that takes longer, and raises `CommandTimedOut`
    naming it. Row streams (a read's rows, a bulk load's COPY or LOAD DATA) are not
    statements in this sense: the engine bounds them by the gap between batches.
    """

    def limit_commands(self, seconds: float | None) -> None:
        """Stop statements that run longer than `seconds` from now on (None: no limit)."""


@runtime_checkable
class ListsUniqueIndexes(Protocol):
    """A destination that names a table's unique indexes besides its primary key.

    MySQL's ON DUPLICATE KEY UPDATE fires on a collision with any unique index: a row
    with a new key that repeats another row's unique value would update that other row.
    The engine asks, and upserts that way only where the key's is the one unique index.
    """

    def unique_indexes(self, table: TableRef) -> dict[str, tuple[str, ...]]:
        """Unique indexes (UNIQUE constraints among them) but the primary key: name → columns."""


@runtime_checkable
class DeclaresTypes(Protocol):
    """A SQL destination whose column types are its own, not `sql.column_type`'s for its dialect.

    The engine asks it how to declare a column it adds or widens, so that column is
    declared exactly like one of a table the connector created itself (MySQL's UTC marker
    on zoned timestamps, its decimal limits, PostgreSQL arrays).
    """

    dialect: str

    def type_sql(self, arrow_type: pa.DataType, key: bool = False) -> str:
        """The DDL type of a column holding `arrow_type` values (`key`: in a primary key)."""


@runtime_checkable
class CountsRows(Protocol):
    """A source that counts a query's rows in one execution, without planning a typed read.

    The engine counts source rows on every incremental run (to skip the key scan that
    finds deletes); SQLite's typed read would run an aggregate twice, once to learn the
    type of its only column and once to read it.
    """

    def count_rows(self, sql: str) -> int:
        """The value of `sql`, a `SELECT COUNT(*) …` in this connector's dialect."""


@runtime_checkable
class Partitionable(Protocol):
    """A source that can split a plain table read into disjoint ranges read in parallel."""

    def partitions(self, table: TableRef, sql: str, count: int) -> list[str]:
        """Up to `count` SELECTs (same columns as `sql`) whose union is `sql`'s rows.

        `sql` is `SELECT … FROM table` without WHERE; ranges are on the primary key or a
        physical row address (ctid). One element means the table is not worth splitting.
        """


@dataclass(frozen=True)
class RelayResult:
    """What a relayed load moved."""

    rows: int
    bytes: int


class RelayDeclined(Exception):
    """A relay that could not start (its connections were refused where the connector's
    own could connect): nothing moved, and the load takes the Arrow path instead."""


class Relay(Protocol):
    """A load prepared to move a source's rows in their wire format, never decoded."""

    def run(self, poll: Callable[[int, int], None]) -> RelayResult:
        """Move the rows; call `poll(rows, bytes)` about twice a second.

        `poll` may raise (a cancelation, a stalled source): the load is then abandoned,
        nothing of it is kept, and the exception propagates. Raises `RelayDeclined` when
        the relay could not start.
        """


@runtime_checkable
class Relays(Protocol):
    """A destination that can take some sources' rows without decoding them.

    Two servers of one kind can hand rows over in their own binary format, with no Arrow
    conversion on either side. The engine asks only where the staged rows are the
    source's rows unchanged; the destination answers None unless the source speaks its
    format and every column has exactly the same type on both ends.
    """

    def relays_from(self, source: object) -> bool:
        """Whether rows of `source` could be relayed at all (a cheap check, no query)."""

    def relay_from(self, source: object, queries: Sequence[str], table: TableRef) -> Relay | None:
        """A relay of `queries`' rows (one query per parallel part) into `table`, or None."""


def _members(protocol: type) -> set[str]:
    """The methods and attributes a protocol asks for."""
    names = {*vars(protocol), *getattr(protocol, "__annotations__", {})}
    return {name for name in names if not name.startswith("_")}


def implements(cls: type, protocol: type) -> bool:
    """Whether instances of `cls` implement `protocol`, judged from the class alone.

    Like `isinstance` on an instance, it checks that every method and attribute of the
    protocol is there (attributes such as `dialect` are class attributes), so a connector
    can be described without opening a connection.
    """
    return all(hasattr(cls, name) for name in _members(protocol))


CAPABILITIES: dict[Capability, Callable[[type], bool]] = {
    Capability.read: lambda cls: implements(cls, Readable),
    Capability.write: lambda cls: implements(cls, Writable),
    Capability.discover: lambda cls: implements(cls, Discoverable),
    # the engine merges with its own SQL, run by the destination (SqlExecutor) or on a
    # copy of the table it reads back and rewrites (any readable destination)
    Capability.merge: lambda cls: (
        implements(cls, Writable) and (implements(cls, SqlExecutor) or implements(cls, Readable))
    ),
}


def capabilities_of(cls: type) -> frozenset[Capability]:
    """What a connector class can do, from the protocols it implements."""
    return frozenset(c for c, has in CAPABILITIES.items() if has(cls))


def limit_commands(connector: object, seconds: float | None) -> None:
    """Bound the connector's statements by `command_timeout` where it can (`LimitsCommands`)."""
    if isinstance(connector, LimitsCommands):
        connector.limit_commands(seconds)


def iterate_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """Yield the non-empty batches of a reader."""
    for batch in reader:
        if batch.num_rows:
            yield batch
