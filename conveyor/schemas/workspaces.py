"""Request and response bodies of workspaces."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from conveyor.schemas.common import OutModel, StrictModel


class WorkspaceCreate(StrictModel):
    """A new workspace."""

    name: str = Field(min_length=1, max_length=200)


class WorkspaceUpdate(StrictModel):
    """Changes to a workspace."""

    name: str | None = Field(default=None, min_length=1, max_length=200)


class WorkspaceOut(OutModel):
    """A workspace."""

    id: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
