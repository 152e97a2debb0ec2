"""Request and response bodies of connections."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from conveyor.schemas.common import OutModel, StrictModel


def _parsable(url: str) -> str:
    """A URL urllib can take apart (a bad bracket or port is the client's error, not a 500)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"malformed connection URL: {exc}") from None
    return url


ConnectionURL = Annotated[str, AfterValidator(_parsable)]


class ConnectionCreate(StrictModel):
    """A new connection. A password in the URL and secret options are stored encrypted."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    url: ConnectionURL = Field(min_length=3, max_length=4000, description="e.g. sqlite:///data.db")
    options: dict[str, Any] = Field(default_factory=dict, description="Connector options.")
    workspace_id: str | None = Field(default=None, description="Default: the default workspace.")
    max_concurrent_runs: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="At most this many runs use it at once (none: no limit).",
    )
    allow_external_access: bool = Field(
        default=False,
        description="Admins only: SQL on this DuckDB or SQLite connection may read and write "
        "other files (read_csv, COPY … TO, ATTACH …); off, it stays inside its database.",
    )


class ConnectionUpdate(StrictModel):
    """Changes to a connection; a URL whose password is `***` keeps the stored password."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: ConnectionURL | None = Field(default=None, min_length=3, max_length=4000)
    options: dict[str, Any] | None = None
    max_concurrent_runs: int | None = Field(
        default=None, ge=0, le=1000, description="0 removes the limit."
    )
    allow_external_access: bool | None = Field(
        default=None, description="Admins only: see the field of a new connection."
    )


class ConnectionOut(OutModel):
    """A connection as shown: passwords and secret options masked as `***`."""

    id: str
    workspace_id: str
    name: str
    scheme: str
    url: str
    options: dict[str, Any]
    capabilities: list[str]
    max_concurrent_runs: int | None = None
    allow_external_access: bool = False
    admin_configured: bool = Field(
        default=False,
        description="Its URL was last set by an admin, so it may reach what only admins may "
        "(paths outside the workspace's roots, loopback and private hosts).",
    )
    last_tested_at: dt.datetime | None
    last_test_ok: bool | None
    last_test_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ConnectionTestResult(OutModel):
    """The outcome of testing a connection: reached, and what a run could do there.

    Reaching a server is not being allowed to write to it (a role with only SELECT, a
    read-only database): `can_read` and `can_write` say what runs would meet.
    """

    ok: bool = Field(description="The connection was reached (its server, file or folder).")
    error: str | None = Field(default=None, description="Why it could not be reached.")
    can_read: bool = Field(
        default=False,
        description="A job could read it as its source: its tables could be listed.",
    )
    read_error: str | None = Field(default=None, description="Why it cannot be read.")
    can_write: bool = Field(
        default=False,
        description="A job could write it as its destination: a uniquely named scratch table "
        "(a hidden file in a folder) was created in the schema unqualified tables land in, "
        "given a row and dropped.",
    )
    write_error: str | None = Field(
        default=None,
        description="Why it cannot be written (e.g. `cannot create a table: permission "
        "denied for schema public`).",
    )
    can_capture_changes: bool | None = Field(
        default=None,
        description="A change data capture job could read its log (PostgreSQL: wal_level "
        "logical and REPLICATION; MySQL/MariaDB: log_bin, binlog_format ROW, binlog_row_image "
        "FULL and the replication grants); null for connections without such a log.",
    )
    cdc_error: str | None = Field(
        default=None, description="What to set on the source before a CDC job can read its log."
    )
    duration_ms: float
