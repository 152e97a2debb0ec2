"""Routes of /api/v1/jobs/{job_id}/tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import RT, Caller, Ctx, UnitRoute
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.schemas.runs import RunTaskOut
from conveyor.schemas.tasks import TaskCreate, TaskMove, TaskOut, TaskUpdate
from conveyor.services import tasks

router = APIRouter(route_class=UnitRoute, prefix="/jobs/{job_id}/tasks", tags=["tasks"])


@router.get("", response_model=Page[TaskOut])
def list_tasks(ctx: Ctx, job_id: str) -> Page[TaskOut]:
    items = [tasks.to_out(t) for t in tasks.list_(ctx, job_id)]
    return Page(items=items, total=len(items), limit=len(items), offset=0)


# Saving a statement may ask the job's source for its columns (a check column is vetted):
# these manage their own short transactions and hold none while the source answers.
@router.post("", status_code=201, response_model=TaskOut)
def create_task(rt: RT, caller: Caller, job_id: str, body: TaskCreate) -> TaskOut:
    return tasks.create_vetted(rt, caller, job_id, body)


@router.get("/last-run")
def last_run_of_tasks(ctx: Ctx, job_id: str) -> dict[str, Any]:
    items = [
        {
            "task": tasks.to_out(task).model_dump(mode="json"),
            "last_run": tasks.result_out(result).model_dump(mode="json") if result else None,
        }
        for task, result in tasks.last_runs(ctx, job_id)
    ]
    return {"items": items, "total": len(items)}


@router.get("/{task_id}", response_model=TaskOut)
def get_task(ctx: Ctx, job_id: str, task_id: str) -> TaskOut:
    return tasks.to_out(tasks.get(ctx, job_id, task_id))


@router.patch("/{task_id}", response_model=TaskOut)
def update_task(rt: RT, caller: Caller, job_id: str, task_id: str, body: TaskUpdate) -> TaskOut:
    return tasks.update_vetted(rt, caller, job_id, task_id, body)


@router.delete("/{task_id}", status_code=204, response_class=Response)
def delete_task(ctx: Ctx, job_id: str, task_id: str) -> None:
    tasks.delete(ctx, job_id, task_id)


@router.post("/{task_id}/move", response_model=TaskOut)
def move_task(ctx: Ctx, job_id: str, task_id: str, body: TaskMove) -> TaskOut:
    return tasks.to_out(tasks.move(ctx, job_id, task_id, body))


@router.get("/{task_id}/history", response_model=Page[RunTaskOut])
def task_history(ctx: Ctx, job_id: str, task_id: str, request: Request) -> Page[RunTaskOut]:
    return page_of(tasks.history(ctx, job_id, task_id, request.query_params), tasks.result_out)
