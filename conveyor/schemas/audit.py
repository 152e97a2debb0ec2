"""Response bodies of the audit log."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from conveyor.schemas.common import OutModel


class AuditEntryOut(OutModel):
    """One state-changing request or failed sign-in (never a token, password, query or body)."""

    id: int
    created_at: dt.datetime = Field(description="When the request arrived (UTC).")
    user_id: str | None = Field(description="The caller; null for a failed sign-in.")
    user_name: str | None = Field(
        description="The caller's name, or the name a failed Basic sign-in tried."
    )
    workspace_id: str | None = Field(description="The workspace of the target, when it has one.")
    surface: str = Field(description="native, cdata_v1, cdata_v2, scapi, elastic or jsonapi.")
    method: str
    route: str = Field(description="The route template, e.g. /api/v1/jobs/{job_id}.")
    path: str = Field(description="The path requested, without its query string.")
    action: str = Field(description="What was done, e.g. jobs.update, runs.cancel, signin.failed.")
    target_id: str | None = Field(description="The id of what was changed, when known.")
    status: int = Field(description="The HTTP status of the answer.")
    client: str | None = Field(description="The client's address as the server saw it.")
