"""Request and response bodies of workspaces."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from conveyor.schemas.common import OutModel, StrictModel

ALLOWED_PATHS = (
    "Admins only: absolute folders whose files this workspace's members may use for SQLite, "
    "DuckDB and file connections, besides the workspace's own folder."
)


class WorkspaceCreate(StrictModel):
    """A new workspace."""

    name: str = Field(min_length=1, max_length=200)
    allowed_paths: list[str] = Field(default_factory=list, description=ALLOWED_PATHS)


class WorkspaceUpdate(StrictModel):
    """Changes to a workspace."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    allowed_paths: list[str] | None = Field(default=None, description=ALLOWED_PATHS)


class WorkspaceOut(OutModel):
    """A workspace, with the folders its members may use."""

    id: str
    name: str
    folder: str = Field(
        description="The workspace's own folder (in the data directory): its members may "
        "always keep SQLite, DuckDB and other files here."
    )
    allowed_paths: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
