"""Routes of Elastic's sync job API, `/_connector/_sync_job`.

Thin translators over `services.elastic.sync_jobs`: list (oldest first, `count` the
total), post (`{"id"}`), get, delete (`{"acknowledged": true}`), and the calls an
external connector service makes — `_claim`, `_check_in`, `_stats`, `_error` — plus
`_cancel`: one table, `ACTIONS`, each answering `{"result": "updated"}`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.compat.elastic import schemas
from conveyor.compat.elastic.actions import Action, mount
from conveyor.compat.elastic.params import (
    WINDOW,
    Body,
    documented,
    list_param,
    named,
    parse,
    query,
    required_id,
    window,
)
from conveyor.compat.elastic.protocol import ElasticError, answer, answer_page, fields_of
from conveyor.domain import RunStatus
from conveyor.services.elastic import sync_jobs
from conveyor.services.elastic.documents import SyncJobType

router = APIRouter(
    route_class=UnitRoute, prefix="/_connector/_sync_job", tags=["elastic sync jobs"]
)


def valid_id(job_id: str) -> str:
    """A path's sync job id: not blank."""
    return required_id(job_id, "connector_sync_job_id")


@router.get(
    "",
    openapi_extra=documented(
        **WINDOW,
        status="Only sync jobs in this status.",
        connector_id="Only this connector's sync jobs.",
        job_type="Only these job types (full, incremental, access_control), comma-separated.",
    ),
)
def list_sync_jobs(ctx: Ctx, request: Request) -> Response:
    params = query(request, ("from", "size", "status", "connector_id", "job_type"))
    offset, size = window(params)
    status = params.get("status")
    page = sync_jobs.list_(
        ctx,
        offset,
        size,
        status=named(RunStatus, status, "ConnectorSyncStatus") if status else None,
        connector_id=params.get("connector_id") or None,
        job_types=[
            named(SyncJobType, kind, "ConnectorSyncJobType")
            for kind in list_param(params, "job_type")
        ],
    )
    return answer_page(request, page, fields_of)


@router.post("", status_code=201)
def post_sync_job(ctx: Ctx, request: Request, body: Body) -> Response:
    query(request)
    data = parse(schemas.SyncJobPost, body)
    if not data.id.strip():
        raise ElasticError.validation_failed("[id] of the connector cannot be null or empty")
    job_id = sync_jobs.post(
        ctx, data.id, data.job_type or SyncJobType.full, data.trigger_method or "on_demand"
    )
    return answer(request, {"id": job_id}, 201)


@router.get("/{job_id}")
def get_sync_job(ctx: Ctx, request: Request, job_id: str) -> Response:
    query(request)
    return answer(request, fields_of(sync_jobs.get(ctx, valid_id(job_id))))


@router.delete("/{job_id}")
def delete_sync_job(ctx: Ctx, request: Request, job_id: str) -> Response:
    query(request)
    sync_jobs.delete(ctx, valid_id(job_id))
    return answer(request, {"acknowledged": True})


ACTIONS = (
    Action("_cancel", sync_jobs.cancel),
    Action("_check_in", sync_jobs.check_in),
    Action("_claim", sync_jobs.claim, schemas.SyncJobClaim),
    Action("_error", sync_jobs.error, schemas.SyncJobError),
    Action("_stats", sync_jobs.stats, schemas.SyncJobStats),
)
"""Every `PUT /_connector/_sync_job/{job_id}/_<action>` endpoint."""
mount(router, "job_id", valid_id, "{}_sync_job", ACTIONS)
