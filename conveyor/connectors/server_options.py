"""Options every database-server connection takes; a server connector's model extends them.

A module of its own, apart from `server`, so that declaring a connector (the registry
imports every built-in options model) loads pydantic only.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from conveyor.connectors.tls import TLSMaterial

__all__ = ["ServerOptions"]


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
    tls: TLSMaterial | None = Field(
        default=None,
        description=(
            "Set by Conveyor when the connection opens: the PEM text of the stored "
            "certificates its TLS parameters name (never given or stored)."
        ),
    )
