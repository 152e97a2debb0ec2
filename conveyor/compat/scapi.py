"""Contentserv SCAPI connector jobs, `/admin/app/scapi/…`, over Conveyor's export runs.

The reference (`contentserv-scapi-connector-jobs.txt`) names four calls; a *process* is
a Conveyor run, and `{jobId}` is a job's id or its `external_key`:

    POST jobs/{jobId}/start                 → 200 {"processId": "<run id>", "SyncState": 2, …}
    GET  jobs/{jobId}/status/{processId}    → {"SyncState": 1 | 2 | 3, "status", "progress",
                                               "error", timestamps, "files": [...]}
    GET  jobs/{jobId}/download/{processId}  → the one file as it is, or a ZIP of several
    GET  datafeed/synchron/{jobExternalKey}/ → starts the job, waits, answers its result

SyncState is 1 when the run completed, 3 when it failed or was canceled (`error` says
why), 2 while it is anything else (queued, running, being canceled, suspended). Unknown
jobs and processes answer 404, a download before the run completed 409, a datafeed
whose run outlives `CONVEYOR_DATAFEED_TIMEOUT` (an hour) 504 with the process id while
the run goes on, one whose run failed 502; all as problem+json. Runs the datafeed
starts have `trigger_method` `datafeed`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from conveyor.api import downloads
from conveyor.api.deps import RT, Caller, Ctx, UnitRoute
from conveyor.api.problems import problem
from conveyor.domain import RunStatus, TriggerMethod
from conveyor.errors import ConveyorError
from conveyor.schemas.files import FileOut
from conveyor.schemas.jobs import JobOut
from conveyor.schemas.runs import RunOut
from conveyor.services import exports, files, jobs, run_wait, runs
from conveyor.services.context import Context
from conveyor.services.files import Download

PREFIX = "/admin/app/scapi"
SUCCESS, RUNNING, ERROR = 1, 2, 3
router = APIRouter(route_class=UnitRoute, prefix=PREFIX, tags=["contentserv scapi"])


class ExportFailed(ConveyorError):
    """The export failed."""

    status_code = 502


def sync_state(run: RunOut) -> int:
    """1 success, 2 running (any status that is not final), 3 error (failed or canceled)."""
    if run.status is RunStatus.completed:
        return SUCCESS
    return ERROR if run.status.is_final else RUNNING


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _links(job: JobOut, run: RunOut) -> dict[str, str]:
    base = f"{PREFIX}/jobs/{job.id}"
    return {"status": f"{base}/status/{run.id}", "download": f"{base}/download/{run.id}"}


def _file(row: FileOut) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "path": row.path,
        "mimeType": row.mime_type,
        "size": row.size,
        "sha256": row.sha256,
        "downloadUrl": row.download_url,
    }


def _process(job: JobOut, run: RunOut, rows: list[FileOut] | None = None) -> dict[str, Any]:
    return {
        "processId": run.id,
        "jobId": job.id,
        "externalKey": job.external_key,
        "jobName": job.name,
        "SyncState": sync_state(run),
        "status": run.status.value,
        "progress": run.progress,
        "error": run.error,
        "triggerMethod": run.trigger_method.value,
        "createdAt": _iso(run.created_at),
        "startedAt": _iso(run.started_at),
        "completedAt": _iso(run.completed_at),
        "rowsWritten": run.stats.rows_written,
        "files": [_file(row) for row in rows or []],
        "links": _links(job, run),
    }


def _job(ctx: Context, key: str) -> JobOut:
    """A job by its id or external key."""
    return jobs.to_out(ctx, exports.job_by_key(ctx, key))


def _run(ctx: Context, job: JobOut, process_id: str) -> RunOut:
    """A process of that job (404 for another job's)."""
    return runs.to_out(exports.run_of_job(ctx, job.id, process_id))


@router.post("/jobs/{job_id}/start")
async def start_job(rt: RT, caller: Caller, job_id: str) -> JSONResponse:
    """Queue a run of the job; answer its process id (committed before the answer)."""

    def start() -> dict[str, Any]:
        with rt.unit(caller) as ctx:
            job = _job(ctx, job_id)
            return _process(job, runs.to_out(exports.start(ctx, job.id)))

    return JSONResponse(await run_in_threadpool(start))


@router.get("/jobs/{job_id}/status/{process_id}")
def process_status(ctx: Ctx, job_id: str, process_id: str) -> dict[str, Any]:
    """SyncState and details of one process (run) of the job."""
    job = _job(ctx, job_id)
    run = _run(ctx, job, process_id)
    return _process(job, run, files.of_run(ctx, run.id))


@router.get(
    "/jobs/{job_id}/download/{process_id}",
    response_class=Response,
    responses=downloads.responses("The process's one file as it is, or a ZIP of its files."),
)
def download(rt: RT, caller: Caller, job_id: str, process_id: str) -> Response:
    """The process's result file, or a ZIP when it wrote several (409 until it completed)."""
    with rt.unit(caller, read_only=True) as ctx:
        run = _run(ctx, _job(ctx, job_id), process_id)
        result = files.download_run(ctx, run.id)
    return downloads.send(result)


@router.get(
    "/datafeed/synchron/{external_key}/",
    response_class=Response,
    responses=downloads.responses(
        "The run's result: its one file as it is, or a ZIP of its files.",
        {502: "The run failed.", 504: "The run is still running after the time limit."},
    ),
)
@router.get("/datafeed/synchron/{external_key}", response_class=Response, include_in_schema=False)
async def datafeed(rt: RT, caller: Caller, external_key: str) -> Response:
    """Start the job, wait for its run, and answer the result (504 past the time limit)."""

    def start() -> str:
        with rt.unit(caller) as ctx:
            return exports.start(ctx, external_key, trigger=TriggerMethod.datafeed).id

    run_id = await run_in_threadpool(start)
    limit = rt.settings.datafeed_timeout
    if not await run_wait.wait_until_final(rt.factory, run_id, limit):
        return problem(
            504,
            "Gateway Timeout",
            f"process {run_id} is still running after {limit:g} s; it goes on: poll its "
            "status and download its result when SyncState is 1",
            processId=run_id,
            statusUrl=f"{PREFIX}/jobs/{external_key}/status/{run_id}",
        )

    def result() -> Download:
        with rt.unit(caller, read_only=True) as ctx:
            run = runs.read(ctx, run_id)
            if run.status is RunStatus.error:
                raise ExportFailed(
                    f"process {run_id} failed: {run.error or 'unknown error'}", processId=run_id
                )
            return files.download_run(ctx, run_id)

    return downloads.send(await run_in_threadpool(result))


def install(app: FastAPI) -> None:
    """Mount the SCAPI routes (errors stay problem+json, the app's default)."""
    app.include_router(router)
