"""Options of `sqlite://` connections, declared cheaply for the registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SQLiteOptions(BaseModel):
    """Options of `sqlite:///path.db` connections."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for a locked database.")
    create: bool = Field(
        default=True, description="Create the database file when it does not exist (destinations)."
    )
    read_only: bool = Field(
        default=False,
        description="Open the database read-only (SQLite's query_only): every write is refused,"
        " and a connection test answers can_write false.",
    )
