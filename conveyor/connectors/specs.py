"""Declarations of the built-in connectors: schemes, options and capabilities.

Importing this module is cheap; the implementations are imported only when a connection
is opened (see `registry`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from conveyor.connectors.base import Capability as C
from conveyor.connectors.registry import ConnectorSpec

SQL_CAPABILITIES = frozenset({C.read, C.write, C.discover, C.merge})


class SQLiteOptions(BaseModel):
    """Options of `sqlite:///path.db` connections."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for a locked database.")
    create: bool = Field(
        default=True, description="Create the database file when it does not exist (destinations)."
    )


class DuckDBOptions(BaseModel):
    """Options of `duckdb:///path.duckdb` connections."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = Field(default=None, ge=1, le=256, description="DuckDB worker threads.")
    memory_limit: str | None = Field(default=None, description="DuckDB memory limit, e.g. '512MB'.")
    primary_key_constraints: bool = Field(
        default=False,
        description="Create tables with PRIMARY KEY constraints. Off by default, as DuckDB"
        " advises for loading: each constraint is an ART index that every merge updates and"
        " every checkpoint rewrites. Conveyor merges by key either way.",
    )


FileFormat = Literal["csv", "parquet", "json", "ndjson", "xlsx"]


class FileOptions(BaseModel):
    """Options of `file:///dir?format=…` connections (options override the URL query)."""

    model_config = ConfigDict(extra="forbid")

    format: FileFormat | None = Field(
        default=None, description="File format; default from ?format= or each file's extension."
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV delimiter.")
    header: bool = Field(default=True, description="Whether CSV files have a header row.")
    compression: Literal["none", "gzip", "zstd", "snappy"] | None = Field(
        default=None, description="Compression of written files (parquet: snappy by default)."
    )


class ServerOptions(BaseModel):
    """Options every database-server connection takes (the URL carries host, user, database)."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        default=None,
        description="Password, when it is not in the URL (stored encrypted, shown masked).",
    )
    connect_timeout: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Seconds to wait for the server before the connection counts as unreachable.",
    )


class PostgresOptions(ServerOptions):
    """Options of `postgresql://user[:password]@host[:port]/database` connections."""

    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = (
        Field(default=None, description="libpq sslmode; default from the URL, else 'prefer'.")
    )
    application_name: str = Field(
        default="conveyor", description="Shown in pg_stat_activity for Conveyor's sessions."
    )
    unconstrained_numeric: Literal["decimal", "text"] = Field(
        default="decimal",
        description=(
            "How `numeric` columns without precision are read: 'decimal' as decimal(38, 9), "
            "failing on a value that does not fit exactly; 'text' as exact strings."
        ),
    )
    binary_relay: bool = Field(
        default=True,
        description=(
            "Between two PostgreSQL connections, pass rows on as binary COPY bytes, never "
            "decoded, when every column has the same type on both ends; false: always "
            "convert through Arrow."
        ),
    )


class MySQLOptions(ServerOptions):
    """Options of `mysql://` and `mariadb://user[:password]@host[:port]/database` connections."""

    ssl: bool = Field(
        default=False, description="Require TLS (with the system's certificate authorities)."
    )


class MemoryOptions(BaseModel):
    """Options of `memory://name` connections (tests only)."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        default=None, description="Accepted and ignored: lets tests check secret handling."
    )


BUILTIN: tuple[ConnectorSpec, ...] = (
    ConnectorSpec(
        name="sqlite",
        schemes=("sqlite",),
        implementation="conveyor.connectors.sqlite:SQLiteConnector",
        capabilities=SQL_CAPABILITIES,
        options=SQLiteOptions,
        description="A SQLite database file.",
    ),
    ConnectorSpec(
        name="duckdb",
        schemes=("duckdb",),
        implementation="conveyor.connectors.duckdb:DuckDBConnector",
        capabilities=SQL_CAPABILITIES,
        options=DuckDBOptions,
        description="A DuckDB database file.",
    ),
    ConnectorSpec(
        name="files",
        schemes=("file",),
        implementation="conveyor.connectors.files:FileConnector",
        capabilities=SQL_CAPABILITIES,
        options=FileOptions,
        description="A folder of csv, parquet, json, ndjson or xlsx files, one table per file.",
    ),
    ConnectorSpec(
        name="postgres",
        schemes=("postgresql", "postgres"),
        implementation="conveyor.connectors.postgres:PostgresConnector",
        capabilities=SQL_CAPABILITIES,
        options=PostgresOptions,
        description="A PostgreSQL database: binary COPY both ways through ADBC.",
    ),
    ConnectorSpec(
        name="mysql",
        schemes=("mysql", "mariadb"),
        implementation="conveyor.connectors.mysql:MySQLConnector",
        capabilities=SQL_CAPABILITIES,
        options=MySQLOptions,
        description="A MySQL or MariaDB database: Arrow reads, LOAD DATA LOCAL INFILE writes.",
    ),
    ConnectorSpec(
        name="memory",
        schemes=("memory",),
        implementation="conveyor.testing:MemoryConnector",
        capabilities=SQL_CAPABILITIES,
        options=MemoryOptions,
        description="In-process tables for tests; nothing survives the process, and every "
        "workspace's memory://name is the same table: admins only.",
        admin_only=True,
    ),
)
