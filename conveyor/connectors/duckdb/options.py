"""Options of `duckdb://` connections, declared cheaply for the registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DuckDBOptions(BaseModel):
    """Options of `duckdb:///path.duckdb` connections."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = Field(default=None, ge=1, le=256, description="DuckDB worker threads.")
    memory_limit: str | None = Field(default=None, description="DuckDB memory limit, e.g. '512MB'.")
    read_only: bool = Field(
        default=False,
        description="Open the database read-only (DuckDB's access_mode READ_ONLY; the file must"
        " exist): every write is refused, and a connection test answers can_write false.",
    )
    primary_key_constraints: bool = Field(
        default=False,
        description="Create tables with PRIMARY KEY constraints. Off by default, as DuckDB"
        " advises for loading: each constraint is an ART index that every merge updates and"
        " every checkpoint rewrites. Conveyor merges by key either way.",
    )
