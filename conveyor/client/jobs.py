"""Jobs: what to copy from where to where, executed as runs.

job = client.jobs.create(
    name="orders",
    source_connection_id=src.id,
    destination_connection_id=dst.id,
    queries=["REPLICATE [orders]"],
)
run = client.jobs.execute(job.id, load="full").wait(check=True)
print(run.stats.rows_written)
"""

from __future__ import annotations

from typing import Any

from conveyor.client.collection import AsyncCollection, Calls, Collection
from conveyor.client.runs import AsyncRun, AsyncRuns, Run, Runs
from conveyor.client.transport import AsyncTransport, Call, Transport, body, page_call
from conveyor.schemas.common import Page
from conveyor.schemas.jobs import JobOut
from conveyor.schemas.runs import JobLogOut


class JobCalls(Calls[JobOut]):
    """The requests of `/api/v1/jobs`."""

    path = "/api/v1/jobs"
    out = JobOut

    def execute_call(self, key: str, fields: dict[str, Any], parse: Any) -> Call[Any]:
        return Call("POST", f"{self.path}/{key}/execute", parse, json=body(None, fields))

    def cancel_call(self, key: str, parse: Any) -> Call[Any]:
        return Call("POST", f"{self.path}/{key}/cancel", parse)

    def status_call(self, key: str) -> Call[dict[str, Any]]:
        return Call("GET", f"{self.path}/{key}/status", dict)

    def logs_call(self, key: str, params: dict[str, Any]) -> Call[Page[JobLogOut]]:
        return page_call(f"{self.path}/{key}/logs", JobLogOut, params)


def _execution(
    tasks: list[str] | None, load: str | None, priority: int | None, format: str | None
) -> dict[str, Any]:
    asked = {"tasks": tasks, "load": load, "priority": priority, "format": format}
    return {name: value for name, value in asked.items() if value is not None}


class Jobs(JobCalls, Collection[JobOut]):
    """`client.jobs`: list, get, create (with `queries`), update, delete, execute, cancel."""

    def __init__(self, transport: Transport, runs: Runs) -> None:
        super().__init__(transport)
        self._runs = runs

    def execute(
        self,
        key: str,
        *,
        tasks: list[str] | None = None,
        load: str | None = None,
        priority: int | None = None,
        format: str | None = None,
    ) -> Run:
        """Queue a run of the job and return it at once (`run.wait()` waits for it).

        `tasks` limits it to some tasks (ids, statements or tables); `load="full"` copies
        everything again; `format` overrides an export job's format for this run.
        """
        fields = _execution(tasks, load, priority, format)
        run: Run = self._t.call(self.execute_call(key, fields, Run.model_validate))
        return self._runs._bind(run)

    def cancel(self, key: str) -> Run:
        """Cancel the job's active run (404 when it has none)."""
        return self._runs._bind(self._t.call(self.cancel_call(key, Run.model_validate)))

    def status(self, key: str) -> dict[str, Any]:
        """`{"job_id", "job_name", "status", "run"}`: the latest run's status, or idle."""
        return self._t.call(self.status_call(key))

    def logs(self, key: str, **params: Any) -> Page[JobLogOut]:
        """One page of the log lines of every run of the job (`run_id=…`, `level=error`)."""
        return self._t.call(self.logs_call(key, params))


class AsyncJobs(JobCalls, AsyncCollection[JobOut]):
    """`AsyncClient.jobs`: `Jobs`' methods, awaited."""

    def __init__(self, transport: AsyncTransport, runs: AsyncRuns) -> None:
        super().__init__(transport)
        self._runs = runs

    async def execute(
        self,
        key: str,
        *,
        tasks: list[str] | None = None,
        load: str | None = None,
        priority: int | None = None,
        format: str | None = None,
    ) -> AsyncRun:
        """Queue a run of the job and return it at once (`await run.wait()`)."""
        fields = _execution(tasks, load, priority, format)
        run: AsyncRun = await self._t.call(self.execute_call(key, fields, AsyncRun.model_validate))
        return self._runs._bind(run)

    async def cancel(self, key: str) -> AsyncRun:
        """Cancel the job's active run."""
        run: AsyncRun = await self._t.call(self.cancel_call(key, AsyncRun.model_validate))
        return self._runs._bind(run)

    async def status(self, key: str) -> dict[str, Any]:
        """The latest run's status, or idle."""
        return await self._t.call(self.status_call(key))

    async def logs(self, key: str, **params: Any) -> Page[JobLogOut]:
        """One page of the log lines of every run of the job."""
        return await self._t.call(self.logs_call(key, params))
