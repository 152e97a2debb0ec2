"""CData Sync's REST API v2, part two: a job's tasks, and tokens.

    GET|POST /jobs/{job_id}/tasks   GET /jobs/{job_id}/tasks/last-run
    GET|PUT|DELETE /jobs/{job_id}/tasks/{task_id}   POST …/move   GET …/history
    POST /users/generate-token                        a token for the caller (or a named user)

A task is shown as the native API shows it (`id`, `job_id`, `index`, `query`, `table`,
`is_active`); its results as `runs.task_result` words them. Bodies are CData's
(`Query`, `Is_Active`, `Index`, `To_Index`, `From_Index`, in any spelling) and a key
that means nothing here is refused with 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.api.deps import AnyBasicUserCtx, UnitRoute
from conveyor.compat.cdata.bodies import Fields, JSONBody, model, to_bool, to_int, to_text
from conveyor.compat.cdata.responses import CDataJSONResponse
from conveyor.compat.cdata.runs import task_result
from conveyor.compat.cdata.v2 import PREFIX, listed
from conveyor.errors import InvalidInput
from conveyor.schemas.tasks import TaskCreate, TaskMove, TaskOut, TaskUpdate
from conveyor.schemas.users import TokenCreate
from conveyor.services import jobs, tasks, users

router = APIRouter(route_class=UnitRoute, prefix=PREFIX, tags=["CData Sync v2"])
Row = dict[str, Any]


def task_out(task: TaskOut) -> Row:
    """A task, as the native API shows it."""
    return task.model_dump(mode="json")


def _task_fields(body: dict[str, Any]) -> tuple[str | None, bool | None, int | None]:
    fields = Fields(body)
    query, active, index = fields.get("Query"), fields.get("Is_Active"), fields.get("Index")
    fields.refuse_unknown()
    return (
        None if query in (None, "") else to_text(query),
        None if active is None else to_bool(active, "is_active"),
        None if index in (None, "") else to_int(index, "index"),
    )


@router.get("/jobs/{job_id}/tasks", name="cdata_v2_list_tasks")
def list_tasks(ctx: AnyBasicUserCtx, job_id: str) -> Response:
    """The job's tasks in order."""
    found = tasks.list_(ctx, jobs.ref(ctx, job_id).id)
    return listed([task_out(tasks.to_out(t)) for t in found])


@router.post("/jobs/{job_id}/tasks", name="cdata_v2_add_task", status_code=201)
def add_task(ctx: AnyBasicUserCtx, job_id: str, body: JSONBody) -> Response:
    """Add a task (`query`, `is_active`, optional `index`)."""
    query, active, index = _task_fields(body)
    if query is None:
        raise InvalidInput("a task needs a query", field="query")
    data = model(
        TaskCreate, {}, query=query, is_active=True if active is None else active, index=index
    )
    task = tasks.create(ctx, jobs.ref(ctx, job_id).id, data)
    return CDataJSONResponse(task_out(tasks.to_out(task)), status_code=201)


@router.get("/jobs/{job_id}/tasks/last-run", name="cdata_v2_tasks_last_run")
def tasks_last_run(ctx: AnyBasicUserCtx, job_id: str) -> Response:
    """Each task with its latest result."""
    rows = [
        {
            "task": task_out(tasks.to_out(task)),
            "last_run": task_result(tasks.result_out(result)) if result else None,
        }
        for task, result in tasks.last_runs(ctx, jobs.ref(ctx, job_id).id)
    ]
    return listed(rows)


@router.get("/jobs/{job_id}/tasks/{task_id}", name="cdata_v2_get_task")
def get_task(ctx: AnyBasicUserCtx, job_id: str, task_id: str) -> Response:
    """One task."""
    task = tasks.get(ctx, jobs.ref(ctx, job_id).id, task_id)
    return CDataJSONResponse(task_out(tasks.to_out(task)))


@router.put("/jobs/{job_id}/tasks/{task_id}", name="cdata_v2_update_task")
def update_task(ctx: AnyBasicUserCtx, job_id: str, task_id: str, body: JSONBody) -> Response:
    """Change a task's query, activity or position; 409 while the job runs."""
    query, active, index = _task_fields(body)
    data = model(TaskUpdate, {}, query=query, is_active=active, index=index)
    task = tasks.update(ctx, jobs.ref(ctx, job_id).id, task_id, data)
    return CDataJSONResponse(task_out(tasks.to_out(task)))


@router.delete("/jobs/{job_id}/tasks/{task_id}", name="cdata_v2_delete_task", status_code=204)
def delete_task(ctx: AnyBasicUserCtx, job_id: str, task_id: str) -> Response:
    """Remove a task; 409 while the job runs."""
    tasks.delete(ctx, jobs.ref(ctx, job_id).id, task_id)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/tasks/{task_id}/move", name="cdata_v2_move_task")
def move_task(ctx: AnyBasicUserCtx, job_id: str, task_id: str, body: JSONBody) -> Response:
    """Move a task from `from_index` (checked when sent) to `to_index`."""
    fields = Fields(body)
    to_index, from_index = fields.get("To_Index"), fields.get("From_Index")
    if to_index in (None, ""):
        raise InvalidInput("to_index is required", field="to_index")
    fields.refuse_unknown()
    data = TaskMove(
        to_index=to_int(to_index, "to_index"),
        from_index=None if from_index in (None, "") else to_int(from_index, "from_index"),
    )
    task = tasks.move(ctx, jobs.ref(ctx, job_id).id, task_id, data)
    return CDataJSONResponse(task_out(tasks.to_out(task)))


@router.get("/jobs/{job_id}/tasks/{task_id}/history", name="cdata_v2_task_history")
def task_history(ctx: AnyBasicUserCtx, job_id: str, task_id: str, request: Request) -> Response:
    """Every run's result for one task, newest first."""
    query = {"limit": "1000", **request.query_params}
    page = tasks.history(ctx, jobs.ref(ctx, job_id).id, task_id, query).map(tasks.result_out)
    return listed([task_result(result) for result in page.rows], page.total)


@router.post("/users/generate-token", name="cdata_v2_generate_token")
def generate_token(ctx: AnyBasicUserCtx, body: JSONBody) -> Response:
    """A new auth token: the caller's own, or (admins) another user's named by `user`.

    Log in with Basic `user:password` to get a token without having one.
    """
    fields = Fields(body)
    user = to_text(fields.get("User", "Username", "User_Name"))
    days = fields.get("Expired_In", "Expires_In_Days", "Expiration_Days")
    data = model(
        TokenCreate,
        {"name": "Name"},
        name=to_text(fields.get("Name")) or "generated by /api.rsc/v2/users/generate-token",
        expires_in_days=None if days in (None, "", 0, "0") else to_int(days, "expires_in_days"),
    )
    fields.refuse_unknown()
    if user and user != ctx.principal.name:
        created = users.create_token(ctx, user, data)
    else:
        created = users.issue_own_token(ctx, data)
        user = ctx.principal.name
    return CDataJSONResponse({"user": user, **created.model_dump(mode="json")})
