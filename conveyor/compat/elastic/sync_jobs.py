"""Routes of Elastic's sync job API, `/_connector/_sync_job`.

Thin translators over `services.sync_jobs`: list (oldest first, `count` the total), post
(`{"id"}`), get, delete (`{"acknowledged": true}`), and the calls an external connector
service makes — `_claim`, `_check_in`, `_stats`, `_error` — plus `_cancel`, each
answering `{"result": "updated"}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from conveyor.api.deps import Ctx
from conveyor.compat.elastic.errors import ElasticError, parse, raw_body, required_id
from conveyor.compat.elastic.params import answer, list_param, query, window
from conveyor.domain import RunStatus
from conveyor.schemas import elastic as bodies
from conveyor.services.elastic import sync_jobs

router = APIRouter(prefix="/_connector/_sync_job", tags=["elastic sync jobs"])
Body = Annotated[Any, Depends(raw_body)]
UPDATED = {"result": "updated"}
JOB_TYPES = frozenset(t.value for t in bodies.SyncJobType)


def _id(job_id: str) -> str:
    return required_id(job_id, "connector_sync_job_id")


@router.get("")
def list_sync_jobs(ctx: Ctx, request: Request) -> Response:
    params = query(request, ("from", "size", "status", "connector_id", "job_type"))
    offset, size = window(params)
    status = params.get("status") or None
    if status is not None and status not in {s.value for s in RunStatus}:
        raise ElasticError(
            400, "illegal_argument_exception", f"Unknown ConnectorSyncStatus: {status}"
        )
    job_types = list_param(params, "job_type")
    for job_type in job_types:
        if job_type not in JOB_TYPES:
            raise ElasticError(
                400, "illegal_argument_exception", f"Unknown ConnectorSyncJobType: {job_type}"
            )
    rows, total = sync_jobs.list_(
        ctx, offset, size, status, params.get("connector_id") or None, job_types
    )
    results = [sync_jobs.document(ctx, run, ext) for run, ext in rows]
    return answer(request, {"count": total, "results": results})


@router.post("")
def post_sync_job(ctx: Ctx, request: Request, body: Body) -> Response:
    query(request)
    data = parse(bodies.SyncJobPost, body)
    if not data.id.strip():
        raise ElasticError(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: [id] of the connector cannot be null or empty;",
        )
    run = sync_jobs.post(
        ctx,
        data.id,
        data.job_type or bodies.SyncJobType.full,
        data.trigger_method or "on_demand",
    )
    return answer(request, {"id": run.id}, 201)


@router.get("/{job_id}")
def get_sync_job(ctx: Ctx, request: Request, job_id: str) -> Response:
    query(request)
    run, ext = sync_jobs.get(ctx, _id(job_id))
    return answer(request, sync_jobs.document(ctx, run, ext))


@router.delete("/{job_id}")
def delete_sync_job(ctx: Ctx, request: Request, job_id: str) -> Response:
    query(request)
    sync_jobs.delete(ctx, _id(job_id))
    return answer(request, {"acknowledged": True})


@router.put("/{job_id}/_cancel")
def cancel_sync_job(ctx: Ctx, request: Request, job_id: str) -> Response:
    query(request)
    sync_jobs.cancel(ctx, _id(job_id))
    return answer(request, UPDATED)


@router.put("/{job_id}/_check_in")
def check_in_sync_job(ctx: Ctx, request: Request, job_id: str) -> Response:
    query(request)
    sync_jobs.check_in(ctx, _id(job_id))
    return answer(request, UPDATED)


@router.put("/{job_id}/_claim")
def claim_sync_job(ctx: Ctx, request: Request, job_id: str, body: Body) -> Response:
    query(request)
    data = parse(bodies.SyncJobClaim, body)
    sync_jobs.claim(ctx, _id(job_id), data.worker_hostname, data.sync_cursor)
    return answer(request, UPDATED)


@router.put("/{job_id}/_error")
def error_sync_job(ctx: Ctx, request: Request, job_id: str, body: Body) -> Response:
    query(request)
    sync_jobs.error(ctx, _id(job_id), parse(bodies.SyncJobError, body).error)
    return answer(request, UPDATED)


@router.put("/{job_id}/_stats")
def stats_sync_job(ctx: Ctx, request: Request, job_id: str, body: Body) -> Response:
    query(request)
    sync_jobs.stats(ctx, _id(job_id), parse(bodies.SyncJobStats, body))
    return answer(request, UPDATED)
