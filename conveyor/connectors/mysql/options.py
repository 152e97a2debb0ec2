"""Options of `mysql://` and `mariadb://` connections, declared cheaply for the registry."""

from __future__ import annotations

from pydantic import Field

from conveyor.connectors.server_options import ServerOptions


class MySQLOptions(ServerOptions):
    """Options of `mysql://` and `mariadb://user[:password]@host[:port]/database` connections."""

    ssl: bool = Field(
        default=False, description="Require TLS (with the system's certificate authorities)."
    )
