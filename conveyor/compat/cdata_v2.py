"""CData Sync's REST API v2 (job management) under `/api.rsc/v2/`, over the native services.

    GET|POST /workspaces/{workspace_id}/jobs         list, create (CData's body parameters)
    GET|PUT|DELETE /jobs/{job_id}                     read, change, delete (409 while running)
    POST /jobs/{job_id}/execute {tasks?}  /cancel     start, cancel
    GET  /jobs/{job_id}/history[/{history_id}]  /status
    GET|POST /jobs/{job_id}/tasks   GET /jobs/{job_id}/tasks/last-run
    GET|PUT|DELETE /jobs/{job_id}/tasks/{task_id}   POST …/move   GET …/history
    POST /users/generate-token                        a token for the caller (or a named user)

Bodies use CData's names in any of their spellings (`Name`/`name`, `Truncate_Table_Data`,
`Source-Connection {Id, Name}` or `source_connection_id`, `Type` as a name or CData's
number); answers use the v2 examples' lower snake_case with CData's values (`"type":
"SyncAll"`, `"status": "SUCCESS"`). Lists are `{"value": [...], "count": n}`. The
document's `PUT /api.rsc/v2/jobs{job_id}` (no slash) is served too, by `cdata_paths`.
Basic authentication takes the token as the password with any user name, as CData's v2
documentation says.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from conveyor.compat.cdata_common import (
    CDataJSONResponse,
    Fields,
    JSONBody,
    V2Ctx,
    find_workspace,
    run_details,
    run_status,
    runtime_ms,
    task_status,
    to_bool,
    to_int,
    to_text,
)
from conveyor.compat.cdata_jobs import DELETION_NAMES, JOB_TYPE_NAMES, JOB_TYPE_NUMBERS, JobBody
from conveyor.domain import DeletionBehavior, JobType
from conveyor.errors import InvalidInput, NotFound
from conveyor.schemas.jobs import JobCreate, JobFields
from conveyor.schemas.runs import ExecuteRequest
from conveyor.schemas.tasks import TaskCreate, TaskMove, TaskOut, TaskUpdate
from conveyor.schemas.users import TokenCreate
from conveyor.services import connections, jobs, runs, tasks, users, workspaces
from conveyor.services.context import Context
from conveyor.store.models import Job, Run, RunTask, Task

PREFIX = "/api.rsc/v2"
router = APIRouter(prefix=PREFIX, tags=["CData Sync v2"])
Row = dict[str, Any]


def _listed(rows: list[Row], count: int | None = None) -> Response:
    return CDataJSONResponse({"value": rows, "count": len(rows) if count is None else count})


def _connection_ref(ctx: Context, connection_id: str | None) -> Row | None:
    if connection_id is None:
        return None
    return {"id": connection_id, "name": connections.get(ctx, connection_id).name}


def task_result(result: RunTask) -> Row:
    """One task's outcome in one run."""
    return {
        "run_id": result.run_id,
        "task_id": result.task_id,
        "index": result.position,
        "query": result.query,
        "table": result.table_name,
        "status": task_status(result.status),
        "records_affected": result.rows_written,
        "rows_read": result.rows_read,
        "rows_deleted": result.rows_deleted,
        "error": result.error,
        "started_at": result.started_at,
        "completed_at": result.completed_at,
    }


def history_item(run: Run) -> Row:
    """A run as a v2 history entry (the same run `/api/v1/runs/{id}` shows)."""
    return {
        "id": run.id,
        "job_id": run.job_id,
        "job_name": run.job_name,
        "status": run_status(run.status),
        "details": run_details(run),
        "run_start_date": run.started_at or run.created_at,
        "run_end_date": run.completed_at,
        "runtime": runtime_ms(run),
        "records_affected": run.rows_written,
        "rows_read": run.rows_read,
        "rows_deleted": run.rows_deleted,
        "trigger": run.trigger_method,
        "tasks": [task_result(result) for result in run.task_results],
    }


def job_out(ctx: Context, job: Job) -> Row:
    """A job in v2's words: the native fields, CData's enumerations and statuses."""
    native = jobs.to_out(ctx, job).model_dump(
        mode="json", exclude={"id", "name", "type", "workspace_id", "status", "last_run"}
    )
    run = jobs.last_run(ctx, job)
    kind = JobType(job.type)
    return {
        "id": job.id,
        "name": job.name,
        "type": JOB_TYPE_NAMES[kind],
        "type_number": next(n for n, t in JOB_TYPE_NUMBERS.items() if t is kind),
        "workspace_id": job.workspace_id,
        "status": run_status(run.status if run else None),
        "source_connection": _connection_ref(ctx, job.source_connection_id),
        "destination_connection": _connection_ref(ctx, job.destination_connection_id),
        **native,
        "deletion_behavior": DELETION_NAMES[DeletionBehavior(native["deletion_behavior"])],
        "last_run": history_item(run) if run else None,
    }


def task_out(task: Task) -> Row:
    """A task."""
    return TaskOut.model_validate(task).model_dump(mode="json")


@router.get("/workspaces", name="cdata_v2_workspaces")
def list_workspaces(ctx: V2Ctx) -> Response:
    """The workspaces the caller sees."""
    rows = workspaces.list_(ctx, {"limit": "1000"}).rows
    return _listed([{"id": w.id, "name": w.name} for w in rows])


@router.get("/workspaces/{workspace_id}/jobs", name="cdata_v2_list_jobs")
def list_jobs(ctx: V2Ctx, workspace_id: str) -> Response:
    """Every job of a workspace."""
    workspace = find_workspace(ctx, workspace_id)
    page = jobs.list_(ctx, {"workspace_id": workspace, "limit": "1000"})
    return _listed([job_out(ctx, job) for job in page.rows], page.total)


@router.post("/workspaces/{workspace_id}/jobs", name="cdata_v2_create_job")
def create_job(ctx: V2Ctx, workspace_id: str, body: JSONBody) -> Response:
    """A new job from CData's v2 body parameters."""
    workspace = find_workspace(ctx, workspace_id)
    fields = Fields(body)
    fields.get("WorkspaceId", "workspace_id")
    translation = JobBody(ctx, fields, workspace)
    changes, queries = translation.translate(None)
    translation.refuse_unknown()
    try:
        data = JobCreate.model_validate({**changes, "workspace_id": workspace, "queries": queries})
    except ValidationError as exc:
        raise translation.invalid(exc) from exc
    return CDataJSONResponse(job_out(ctx, jobs.create(ctx, data)), status_code=201)


@router.get("/jobs/{job_id}", name="cdata_v2_get_job")
def get_job(ctx: V2Ctx, job_id: str) -> Response:
    """One job, by id (or name)."""
    return CDataJSONResponse(job_out(ctx, jobs.find(ctx, job_id)))


@router.put("/jobs/{job_id}", name="cdata_v2_update_job")
def update_job(ctx: V2Ctx, job_id: str, body: JSONBody) -> Response:
    """Change a job: only the settings sent change; 409 while it runs."""
    job = jobs.find(ctx, job_id)
    current = jobs.fields_of(job)
    fields = Fields(body)
    fields.get("Id", "JobId")
    translation = JobBody(ctx, fields, job.workspace_id)
    changes, queries = translation.translate(current)
    translation.refuse_unknown()
    if queries:
        raise InvalidInput("change a job's queries through its tasks", field="Queries")
    try:
        JobFields.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        raise translation.invalid(exc) from exc
    return CDataJSONResponse(job_out(ctx, jobs.update(ctx, job.id, changes)))


@router.delete("/jobs/{job_id}", name="cdata_v2_delete_job")
def delete_job(ctx: V2Ctx, job_id: str) -> Response:
    """Delete a job with its tasks and history; 409 while it runs."""
    jobs.delete(ctx, jobs.find(ctx, job_id).id)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/execute", name="cdata_v2_execute_job")
def execute_job(ctx: V2Ctx, job_id: str, body: JSONBody) -> Response:
    """Queue a run of the job (all active tasks, or the listed `tasks`)."""
    fields = Fields(body)
    chosen = fields.get("Tasks")
    if chosen is not None and not isinstance(chosen, list):
        raise InvalidInput("tasks must be a list of task ids", field="tasks")
    if unknown := fields.unused():
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=unknown[0])
    request = ExecuteRequest(tasks=[to_text(t) for t in chosen] if chosen else None)
    run = runs.execute(ctx, jobs.find(ctx, job_id).id, request)
    return CDataJSONResponse(history_item(run))


@router.post("/jobs/{job_id}/cancel", name="cdata_v2_cancel_job")
def cancel_job(ctx: V2Ctx, job_id: str) -> Response:
    """Cancel the job's active run; 409 when there is none."""
    return CDataJSONResponse(history_item(runs.cancel_job(ctx, jobs.find(ctx, job_id).id)))


@router.get("/jobs/{job_id}/history", name="cdata_v2_job_history")
def job_history(ctx: V2Ctx, job_id: str, request: Request) -> Response:
    """The job's runs, newest first (`?limit=&offset=` page them; default 1000)."""
    job = jobs.find(ctx, job_id)
    query = {"limit": "1000", **request.query_params, "job_id": job.id}
    page = runs.list_(ctx, query)
    return _listed([history_item(run) for run in page.rows], page.total)


@router.get("/jobs/{job_id}/history/{history_id}", name="cdata_v2_job_history_item")
def job_history_item(ctx: V2Ctx, job_id: str, history_id: str) -> Response:
    """One run of the job."""
    job = jobs.find(ctx, job_id)
    run = runs.get(ctx, history_id)
    if run.job_id != job.id:
        raise NotFound(f"history {history_id} not found in job {job_id}")
    return CDataJSONResponse(history_item(run))


@router.get("/jobs/{job_id}/status", name="cdata_v2_job_status")
def job_status(ctx: V2Ctx, job_id: str) -> Response:
    """The status of the job's latest run, with its tasks."""
    job = jobs.find(ctx, job_id)
    run = jobs.last_run(ctx, job)
    return CDataJSONResponse(
        {
            "job_id": job.id,
            "job_name": job.name,
            "status": run_status(run.status if run else None),
            "run": history_item(run) if run else None,
        }
    )


@router.get("/jobs/{job_id}/tasks", name="cdata_v2_list_tasks")
def list_tasks(ctx: V2Ctx, job_id: str) -> Response:
    """The job's tasks in order."""
    return _listed([task_out(t) for t in tasks.list_(ctx, jobs.find(ctx, job_id).id)])


def _task_fields(body: dict[str, Any]) -> tuple[str | None, bool | None, int | None]:
    fields = Fields(body)
    query, active, index = fields.get("Query"), fields.get("Is_Active"), fields.get("Index")
    if unknown := fields.unused():
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=unknown[0])
    return (
        None if query in (None, "") else to_text(query),
        None if active is None else to_bool(active, "is_active"),
        None if index in (None, "") else to_int(index, "index"),
    )


@router.post("/jobs/{job_id}/tasks", name="cdata_v2_add_task")
def add_task(ctx: V2Ctx, job_id: str, body: JSONBody) -> Response:
    """Add a task (`query`, `is_active`, optional `index`)."""
    query, active, index = _task_fields(body)
    if query is None:
        raise InvalidInput("a task needs a query", field="query")
    data = TaskCreate(query=query, is_active=True if active is None else active, index=index)
    task = tasks.create(ctx, jobs.find(ctx, job_id).id, data)
    return CDataJSONResponse(task_out(task), status_code=201)


@router.get("/jobs/{job_id}/tasks/last-run", name="cdata_v2_tasks_last_run")
def tasks_last_run(ctx: V2Ctx, job_id: str) -> Response:
    """Each task with its latest result."""
    rows = [
        {"task": task_out(task), "last_run": task_result(result) if result else None}
        for task, result in tasks.last_runs(ctx, jobs.find(ctx, job_id).id)
    ]
    return _listed(rows)


@router.get("/jobs/{job_id}/tasks/{task_id}", name="cdata_v2_get_task")
def get_task(ctx: V2Ctx, job_id: str, task_id: str) -> Response:
    """One task."""
    return CDataJSONResponse(task_out(tasks.get(ctx, jobs.find(ctx, job_id).id, task_id)))


@router.put("/jobs/{job_id}/tasks/{task_id}", name="cdata_v2_update_task")
def update_task(ctx: V2Ctx, job_id: str, task_id: str, body: JSONBody) -> Response:
    """Change a task's query, activity or position; 409 while the job runs."""
    query, active, index = _task_fields(body)
    data = TaskUpdate(query=query, is_active=active, index=index)
    return CDataJSONResponse(task_out(tasks.update(ctx, jobs.find(ctx, job_id).id, task_id, data)))


@router.delete("/jobs/{job_id}/tasks/{task_id}", name="cdata_v2_delete_task")
def delete_task(ctx: V2Ctx, job_id: str, task_id: str) -> Response:
    """Remove a task; 409 while the job runs."""
    tasks.delete(ctx, jobs.find(ctx, job_id).id, task_id)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/tasks/{task_id}/move", name="cdata_v2_move_task")
def move_task(ctx: V2Ctx, job_id: str, task_id: str, body: JSONBody) -> Response:
    """Move a task from `from_index` (checked when sent) to `to_index`."""
    fields = Fields(body)
    to_index, from_index = fields.get("To_Index"), fields.get("From_Index")
    if to_index in (None, ""):
        raise InvalidInput("to_index is required", field="to_index")
    if unknown := fields.unused():
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=unknown[0])
    data = TaskMove(
        to_index=to_int(to_index, "to_index"),
        from_index=None if from_index in (None, "") else to_int(from_index, "from_index"),
    )
    return CDataJSONResponse(task_out(tasks.move(ctx, jobs.find(ctx, job_id).id, task_id, data)))


@router.get("/jobs/{job_id}/tasks/{task_id}/history", name="cdata_v2_task_history")
def task_history(ctx: V2Ctx, job_id: str, task_id: str, request: Request) -> Response:
    """Every run's result for one task, newest first."""
    query = {"limit": "1000", **request.query_params}
    page = tasks.history(ctx, jobs.find(ctx, job_id).id, task_id, query)
    return _listed([task_result(result) for result in page.rows], page.total)


@router.post("/users/generate-token", name="cdata_v2_generate_token")
def generate_token(ctx: V2Ctx, body: JSONBody) -> Response:
    """A new auth token: the caller's own, or (admins) another user's named by `user`.

    Log in with Basic `user:password` to get a token without having one.
    """
    fields = Fields(body)
    user = to_text(fields.get("User", "Username", "User_Name"))
    days = fields.get("Expired_In", "Expires_In_Days", "Expiration_Days")
    data = TokenCreate(
        name=to_text(fields.get("Name")) or "generated by /api.rsc/v2/users/generate-token",
        expires_in_days=None if days in (None, "", 0, "0") else to_int(days, "expires_in_days"),
    )
    if unknown := fields.unused():
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=unknown[0])
    if user and user != ctx.principal.name:
        created = users.create_token(ctx, user, data)
    else:
        created = users.issue_own_token(ctx, data)
        user = ctx.principal.name
    return CDataJSONResponse({"user": user, **created.model_dump(mode="json")})
