"""Options of `duckdb://` connections, declared cheaply for the registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
