"""Tasks: the REPLICATE statements of a job, in order.

client.tasks.create(job.id, "REPLICATE [customers]")
for task in client.tasks.list(job.id):
    print(task.index, task.table, task.query)
"""

from __future__ import annotations

from typing import Any

from conveyor.client.transport import (
    AsyncTransport,
    Call,
    Transport,
    body,
    model,
    nothing,
    page_call,
)
from conveyor.schemas.common import Page
from conveyor.schemas.runs import RunTaskOut
from conveyor.schemas.tasks import TaskOut


def _path(job: str, task: str | None = None) -> str:
    return f"/api/v1/jobs/{job}/tasks" + (f"/{task}" if task else "")


def _tasks(answer: Any) -> list[TaskOut]:
    return [TaskOut.model_validate(item) for item in answer["items"]]


class TaskCalls:
    """The requests of `/api/v1/jobs/{job_id}/tasks`."""

    def list_call(self, job: str) -> Call[list[TaskOut]]:
        return Call("GET", _path(job), _tasks)

    def get_call(self, job: str, task: str) -> Call[TaskOut]:
        return Call("GET", _path(job, task), model(TaskOut))

    def create_call(
        self, job: str, query: str, is_active: bool, index: int | None
    ) -> Call[TaskOut]:
        fields = {"query": query, "is_active": is_active, "index": index}
        sent = {k: v for k, v in fields.items() if v is not None}
        return Call("POST", _path(job), model(TaskOut), json=sent)

    def update_call(self, job: str, task: str, fields: dict[str, Any]) -> Call[TaskOut]:
        return Call("PATCH", _path(job, task), model(TaskOut), json=body(None, fields))

    def delete_call(self, job: str, task: str) -> Call[None]:
        return Call("DELETE", _path(job, task), nothing)

    def move_call(self, job: str, task: str, to_index: int) -> Call[TaskOut]:
        return Call("POST", _path(job, task) + "/move", model(TaskOut), json={"to_index": to_index})

    def history_call(self, job: str, task: str, params: dict[str, Any]) -> Call[Page[RunTaskOut]]:
        return page_call(_path(job, task) + "/history", RunTaskOut, params)


class Tasks(TaskCalls):
    """`client.tasks`: a job's tasks, each request naming the job first."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self, job: str) -> list[TaskOut]:
        """The job's tasks in order."""
        return self._t.call(self.list_call(job))

    def get(self, job: str, task: str) -> TaskOut:
        """One task."""
        return self._t.call(self.get_call(job, task))

    def create(
        self, job: str, query: str, *, is_active: bool = True, index: int | None = None
    ) -> TaskOut:
        """Add a statement (last, or at `index`); a bad one is refused with its position."""
        return self._t.call(self.create_call(job, query, is_active, index))

    def update(self, job: str, task: str, **fields: Any) -> TaskOut:
        """Change a task's `query`, `is_active` or `index`."""
        return self._t.call(self.update_call(job, task, fields))

    def delete(self, job: str, task: str) -> None:
        """Remove a task."""
        self._t.call(self.delete_call(job, task))

    def move(self, job: str, task: str, to_index: int) -> TaskOut:
        """Move a task to another position."""
        return self._t.call(self.move_call(job, task, to_index))

    def history(self, job: str, task: str, **params: Any) -> Page[RunTaskOut]:
        """The task's outcomes in past runs."""
        return self._t.call(self.history_call(job, task, params))


class AsyncTasks(TaskCalls):
    """`AsyncClient.tasks`: `Tasks`' methods, awaited."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def list(self, job: str) -> list[TaskOut]:
        """The job's tasks in order."""
        return await self._t.call(self.list_call(job))

    async def get(self, job: str, task: str) -> TaskOut:
        """One task."""
        return await self._t.call(self.get_call(job, task))

    async def create(
        self, job: str, query: str, *, is_active: bool = True, index: int | None = None
    ) -> TaskOut:
        """Add a statement."""
        return await self._t.call(self.create_call(job, query, is_active, index))

    async def update(self, job: str, task: str, **fields: Any) -> TaskOut:
        """Change a task."""
        return await self._t.call(self.update_call(job, task, fields))

    async def delete(self, job: str, task: str) -> None:
        """Remove a task."""
        await self._t.call(self.delete_call(job, task))

    async def move(self, job: str, task: str, to_index: int) -> TaskOut:
        """Move a task to another position."""
        return await self._t.call(self.move_call(job, task, to_index))

    async def history(self, job: str, task: str, **params: Any) -> Page[RunTaskOut]:
        """The task's outcomes in past runs."""
        return await self._t.call(self.history_call(job, task, params))
