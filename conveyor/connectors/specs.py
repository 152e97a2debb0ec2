"""What a connector declares (`ConnectorSpec`), and the declarations of the built-in ones.

Importing this module is cheap: the implementations are imported only when a connection
is opened, or when what a connector can do is first asked (see `registry`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conveyor.connectors.base import Capability, Connector, capabilities_of
from conveyor.errors import ConfigurationError, InvalidInput


class NoOptions(BaseModel):
    """Options of a connector that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector's declaration: schemes, options, and where its code lives."""

    name: str
    schemes: tuple[str, ...]
    implementation: str  # "package.module:ClassName"
    options: type[BaseModel] = NoOptions
    description: str = ""
    secret_options: tuple[str, ...] = field(default=())
    admin_only: bool = False
    """Only admins may create connections of it (its data is not kept per workspace)."""

    def load(self) -> Callable[..., Connector]:
        """Import and return the connector class."""
        module_name, _, attribute = self.implementation.partition(":")
        return cast(
            Callable[..., Connector], getattr(importlib.import_module(module_name), attribute)
        )

    @cached_property
    def capabilities(self) -> frozenset[Capability]:
        """What the connector can do: the protocols its class implements.

        Asking imports the implementation (once per process); listing connectors does not.
        """
        try:
            implementation = self.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"connector {self.name!r} cannot be loaded from {self.implementation!r}: {exc}"
            ) from exc
        return capabilities_of(cast(type, implementation))

    def validate_options(self, options: dict[str, Any]) -> BaseModel:
        """Check connection options against the connector's model; 422 naming the field."""
        try:
            return self.options.model_validate(options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(
                f"option {where!r}: {first['msg']}", field=f"options.{where}"
            ) from exc


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
        options=SQLiteOptions,
        description="A SQLite database file.",
    ),
    ConnectorSpec(
        name="duckdb",
        schemes=("duckdb",),
        implementation="conveyor.connectors.duckdb:DuckDBConnector",
        options=DuckDBOptions,
        description="A DuckDB database file.",
    ),
    ConnectorSpec(
        name="files",
        schemes=("file",),
        implementation="conveyor.connectors.files:FileConnector",
        options=FileOptions,
        description="A folder of csv, parquet, json, ndjson or xlsx files, one table per file.",
    ),
    ConnectorSpec(
        name="postgres",
        schemes=("postgresql", "postgres"),
        implementation="conveyor.connectors.postgres:PostgresConnector",
        options=PostgresOptions,
        description="A PostgreSQL database: binary COPY both ways through ADBC.",
    ),
    ConnectorSpec(
        name="mysql",
        schemes=("mysql", "mariadb"),
        implementation="conveyor.connectors.mysql:MySQLConnector",
        options=MySQLOptions,
        description="A MySQL or MariaDB database: Arrow reads, LOAD DATA LOCAL INFILE writes.",
    ),
    ConnectorSpec(
        name="memory",
        schemes=("memory",),
        implementation="conveyor.testing:MemoryConnector",
        options=MemoryOptions,
        description="In-process tables for tests; nothing survives the process, and every "
        "workspace's memory://name is the same table: admins only.",
        admin_only=True,
    ),
)
