"""Routes of /api/v1/audit (admins only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.api.v1.pages import page_of
from conveyor.schemas.audit import AuditEntryOut
from conveyor.schemas.common import Page
from conveyor.services import audit

router = APIRouter(route_class=UnitRoute, prefix="/audit", tags=["audit"])


@router.get(
    "",
    response_model=Page[AuditEntryOut],
    responses={403: {"description": "The caller is not an admin."}},
)
def list_audit(
    ctx: Ctx,
    request: Request,
    user: Annotated[str | None, Query(description="A user's id or name.")] = None,
    workspace: Annotated[
        str | None, Query(description="A workspace's id: the entries of what changed in it.")
    ] = None,
    action: Annotated[
        str | None, Query(description="e.g. jobs.update; `action__in=a,b` for several.")
    ] = None,
    since: Annotated[dt.datetime | None, Query(description="From this time on.")] = None,
    until: Annotated[dt.datetime | None, Query(description="Before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    sort: Annotated[str, Query(description="e.g. -created_at (the default), user_name")] = "",
) -> Page[AuditEntryOut]:
    """Who changed what, newest first; failed sign-ins are `signin.failed`.

    Besides the parameters named here, the list conventions apply to every field of an
    entry (`status=403`, `surface=cdata_v1`, `created_at__gte=…`, `action__in=a,b`). The
    named ones are declared so that OpenAPI documents them and their types are checked;
    the service reads them from the query string with the rest.
    """
    return page_of(audit.list_(ctx, request.query_params), audit.to_out)
