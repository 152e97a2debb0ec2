"""Routes of /api/v1/jobs (tasks are in `tasks.py`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from conveyor.api.deps import RT, Caller, Ctx, UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.schemas.jobs import JobCreate, JobOut, JobUpdate
from conveyor.schemas.runs import ExecuteRequest, JobLogOut, RunOut
from conveyor.services import jobs, run_wait, runs, tasks

router = APIRouter(route_class=UnitRoute, prefix="/jobs", tags=["jobs"])


add_routes(router, Collection.of("job", jobs, JobOut, update=JobUpdate))


# A new job's queries may ask its source for their columns (a check column is vetted): this
# manages its own short transactions and holds none while the source answers.
@router.post("", status_code=201, response_model=JobOut, name="create_job", summary="Create a job")
def create_job(rt: RT, caller: Caller, body: JobCreate) -> JobOut:
    return jobs.create_vetted(rt, caller, body)


@router.post("/{job_id}/execute", status_code=202, response_model=RunOut)
async def execute_job(
    rt: RT, principal: Caller, job_id: str, body: ExecuteRequest | None = None
) -> Any:
    """Start a run (202); with `wait`, answer when it is final (200) or the timeout passed (202)."""
    request = body or ExecuteRequest()

    def enqueue() -> str:
        with rt.unit(principal) as ctx:
            return runs.execute(ctx, job_id, request).id

    run_id = await run_in_threadpool(enqueue)
    final = request.wait and await run_wait.wait_until_final(rt.factory, run_id, request.timeout)

    def read() -> RunOut:
        with rt.unit(principal) as ctx:
            return runs.to_out(runs.get(ctx, run_id))

    out = await run_in_threadpool(read)
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if final else 202)


@router.get("/{job_id}/logs", response_model=Page[JobLogOut])
def job_logs(
    ctx: Ctx,
    job_id: str,
    request: Request,
    since: Annotated[
        dt.datetime | None, Query(description="Only lines logged from this time on.")
    ] = None,
) -> Page[JobLogOut]:
    """The log lines of every run of the job, oldest first (`run_id` says whose); filter
    them with the list conventions (`level=error`, `run_id=…`)."""
    return page_of(
        runs.job_logs(ctx, job_id, since, request.query_params), JobLogOut.model_validate
    )


@router.get("/{job_id}/tables-to-add")
def tables_to_add(
    rt: RT,
    caller: Caller,
    job_id: str,
    connection_id: Annotated[
        str | None, Query(description="Another connection than the job's source.")
    ] = None,
) -> dict[str, Any]:
    """The tables of the job's source that none of its tasks replicates yet."""
    found = tasks.tables_to_add(rt, caller, job_id, connection_id)
    return {"items": found, "total": len(found)}


@router.post("/{job_id}/cancel", status_code=202, response_model=RunOut)
def cancel_job(ctx: Ctx, job_id: str) -> RunOut:
    return runs.to_out(runs.cancel_job(ctx, job_id))


@router.get("/{job_id}/status")
def job_status(ctx: Ctx, job_id: str) -> dict[str, Any]:
    job = jobs.get(ctx, job_id)
    run = jobs.last_run(ctx, job)
    return {
        "job_id": job.id,
        "job_name": job.name,
        "status": run.status if run else "idle",
        "run": runs.to_out(run).model_dump(mode="json") if run else None,
        "warnings": jobs.status_warnings(ctx, run),
    }
