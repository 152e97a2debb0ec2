"""Options of `postgresql://` connections, declared cheaply for the registry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conveyor.connectors.server_options import ServerOptions


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
