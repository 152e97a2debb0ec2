"""CData Sync's REST API v2 (job management) under `/api.rsc/v2/`, over the native services.

    GET|POST /workspaces/{workspace_id}/jobs         list, create (CData's body parameters)
    GET|PUT|DELETE /jobs/{job_id}                     read, change, delete (409 while running)
    POST /jobs/{job_id}/execute {tasks?}  /cancel     start, cancel
    GET  /jobs/{job_id}/history[/{history_id}]  /status

and, in `v2_tasks`, a job's tasks and `POST /users/generate-token`.

Bodies use CData's names in any of their spellings (`Name`/`name`, `Truncate_Table_Data`,
`Source-Connection {Id, Name}` or `source_connection_id`, `Type` as a name or CData's
number); answers use the v2 examples' lower snake_case with CData's values (`"type":
"SyncAll"`, `"status": "SUCCESS"`). Lists are `{"value": [...], "count": n}`. A job is
named by its id or its name. The document's `PUT /api.rsc/v2/jobs{job_id}` (no slash)
is served too, by `paths`. Basic authentication takes the token as the password
with any user name, as CData's v2 documentation says (`AnyBasicUserCtx`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.api.deps import AnyBasicUserCtx, UnitRoute
from conveyor.compat.cdata.bodies import Fields, JSONBody, to_text
from conveyor.compat.cdata.jobs import (
    DELETION_NAMES,
    JOB_TYPE_NAMES,
    JOB_TYPE_NUMBERS,
    JobBody,
    job_fields,
)
from conveyor.compat.cdata.responses import CDataJSONResponse
from conveyor.compat.cdata.runs import history_item, run_status
from conveyor.domain import DeletionBehavior
from conveyor.errors import InvalidInput, NotFound
from conveyor.schemas.jobs import JobOut
from conveyor.schemas.runs import ExecuteRequest
from conveyor.services import connections, jobs, runs, workspaces
from conveyor.services.context import Context

PREFIX = "/api.rsc/v2"
router = APIRouter(route_class=UnitRoute, prefix=PREFIX, tags=["CData Sync v2"])
Row = dict[str, Any]


def listed(rows: list[Row], count: int | None = None) -> Response:
    """v2's list: `{"value": [...], "count": n}`."""
    return CDataJSONResponse({"value": rows, "count": len(rows) if count is None else count})


def _connection_ref(ctx: Context, connection_id: str | None) -> Row | None:
    if connection_id is None:
        return None
    return {"id": connection_id, "name": connections.ref(ctx, connection_id).name}


def job_out(ctx: Context, job: JobOut) -> Row:
    """A job in v2's words: the native fields, CData's enumerations and statuses."""
    native = job.model_dump(
        mode="json", exclude={"id", "name", "type", "workspace_id", "status", "last_run"}
    )
    run = runs.read(ctx, job.last_run.id) if job.last_run else None
    return {
        "id": job.id,
        "name": job.name,
        "type": JOB_TYPE_NAMES[job.type],
        "type_number": next(n for n, t in JOB_TYPE_NUMBERS.items() if t is job.type),
        "workspace_id": job.workspace_id,
        "status": run_status(job.status),
        "source_connection": _connection_ref(ctx, job.source_connection_id),
        "destination_connection": _connection_ref(ctx, job.destination_connection_id),
        **native,
        "deletion_behavior": DELETION_NAMES[DeletionBehavior(native["deletion_behavior"])],
        "last_run": history_item(run) if run else None,
    }


def _job(ctx: Context, key: str) -> JobOut:
    return jobs.to_out(ctx, jobs.find(ctx, key))


@router.get("/workspaces", name="cdata_v2_workspaces")
def list_workspaces(ctx: AnyBasicUserCtx) -> Response:
    """The workspaces the caller sees."""
    rows = workspaces.list_(ctx, {"limit": "1000"}).map(lambda w: workspaces.to_out(ctx, w)).rows
    return listed([{"id": w.id, "name": w.name} for w in rows])


@router.get("/workspaces/{workspace_id}/jobs", name="cdata_v2_list_jobs")
def list_jobs(ctx: AnyBasicUserCtx, workspace_id: str) -> Response:
    """Every job of a workspace."""
    workspace = workspaces.find_id(ctx, workspace_id)
    page = jobs.list_(ctx, {"workspace_id": workspace, "limit": "1000"})
    return listed(
        [job_out(ctx, job) for job in page.map(lambda j: jobs.to_out(ctx, j)).rows], page.total
    )


@router.post("/workspaces/{workspace_id}/jobs", name="cdata_v2_create_job", status_code=201)
def create_job(ctx: AnyBasicUserCtx, workspace_id: str, body: JSONBody) -> Response:
    """A new job from CData's v2 body parameters."""
    workspace = workspaces.find_id(ctx, workspace_id)
    fields = Fields(body)
    fields.get("WorkspaceId", "workspace_id")
    data = JobBody(ctx, fields, workspace).new_job()
    created = jobs.to_out(ctx, jobs.create(ctx, data))
    return CDataJSONResponse(job_out(ctx, created), status_code=201)


@router.get("/jobs/{job_id}", name="cdata_v2_get_job")
def get_job(ctx: AnyBasicUserCtx, job_id: str) -> Response:
    """One job, by id (or name)."""
    return CDataJSONResponse(job_out(ctx, _job(ctx, job_id)))


@router.put("/jobs/{job_id}", name="cdata_v2_update_job")
def update_job(ctx: AnyBasicUserCtx, job_id: str, body: JSONBody) -> Response:
    """Change a job: only the settings sent change; 409 while it runs."""
    job = _job(ctx, job_id)
    fields = Fields(body)
    fields.get("Id", "JobId")
    translation = JobBody(ctx, fields, job.workspace_id)
    changes = translation.changes_to(job_fields(job), ("Queries", "its tasks"))
    return CDataJSONResponse(job_out(ctx, jobs.to_out(ctx, jobs.update(ctx, job.id, changes))))


@router.delete("/jobs/{job_id}", name="cdata_v2_delete_job", status_code=204)
def delete_job(ctx: AnyBasicUserCtx, job_id: str) -> Response:
    """Delete a job with its tasks and history; 409 while it runs."""
    jobs.delete(ctx, jobs.ref(ctx, job_id).id)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/execute", name="cdata_v2_execute_job")
def execute_job(ctx: AnyBasicUserCtx, job_id: str, body: JSONBody) -> Response:
    """Queue a run of the job (all active tasks, or the listed `tasks`)."""
    fields = Fields(body)
    chosen = fields.get("Tasks")
    if chosen is not None and not isinstance(chosen, list):
        raise InvalidInput("tasks must be a list of task ids", field="tasks")
    fields.refuse_unknown()
    request = ExecuteRequest(tasks=[to_text(t) for t in chosen] if chosen else None)
    run = runs.execute(ctx, jobs.ref(ctx, job_id).id, request)
    return CDataJSONResponse(history_item(runs.to_out(run)))


@router.post("/jobs/{job_id}/cancel", name="cdata_v2_cancel_job")
def cancel_job(ctx: AnyBasicUserCtx, job_id: str) -> Response:
    """Cancel the job's active run; 409 when there is none."""
    run = runs.cancel_job(ctx, jobs.ref(ctx, job_id).id)
    return CDataJSONResponse(history_item(runs.to_out(run)))


@router.get("/jobs/{job_id}/history", name="cdata_v2_job_history")
def job_history(ctx: AnyBasicUserCtx, job_id: str, request: Request) -> Response:
    """The job's runs, newest first (`?limit=&offset=` page them; default 1000)."""
    query = {"limit": "1000", **request.query_params, "job_id": jobs.ref(ctx, job_id).id}
    page = runs.list_(ctx, query).map(runs.to_out)
    return listed([history_item(run) for run in page.rows], page.total)


@router.get("/jobs/{job_id}/history/{history_id}", name="cdata_v2_job_history_item")
def job_history_item(ctx: AnyBasicUserCtx, job_id: str, history_id: str) -> Response:
    """One run of the job."""
    job = jobs.ref(ctx, job_id)
    run = runs.read(ctx, history_id)
    if run.job_id != job.id:
        raise NotFound(f"history {history_id} not found in job {job_id}")
    return CDataJSONResponse(history_item(run))


@router.get("/jobs/{job_id}/status", name="cdata_v2_job_status")
def job_status(ctx: AnyBasicUserCtx, job_id: str) -> Response:
    """The status of the job's latest run, with its tasks."""
    job = _job(ctx, job_id)
    run = runs.read(ctx, job.last_run.id) if job.last_run else None
    return CDataJSONResponse(
        {
            "job_id": job.id,
            "job_name": job.name,
            "status": run_status(job.status),
            "run": history_item(run) if run else None,
        }
    )
