"""Pipelines: jobs run in order (or as a graph), on demand or on a schedule.

p = client.pipelines.create(name="nightly", steps=[{"job_id": "extract"}, {"job_id": "load"}])
run = client.pipelines.wait(client.pipelines.run(p.id).id, timeout=600)
print(run.status, [(s.job_name, s.status, s.run_id) for s in run.steps])
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conveyor.client.collection import AsyncCollection, Calls, Collection
from conveyor.client.errors import WaitTimeout
from conveyor.client.runs import FIRST_POLL, LAST_POLL
from conveyor.client.transport import Call, model, page_call
from conveyor.schemas.common import Page
from conveyor.schemas.pipelines import PipelineOut, PipelineRunOut

RUNS = "/api/v1/pipeline-runs"


class PipelineCalls(Calls[PipelineOut]):
    """The requests of `/api/v1/pipelines` and `/api/v1/pipeline-runs`."""

    path = "/api/v1/pipelines"
    out = PipelineOut

    def run_call(self, key: str) -> Call[PipelineRunOut]:
        return Call("POST", f"{self.path}/{key}/runs", model(PipelineRunOut))

    def runs_call(self, key: str, limit: int | None, offset: int | None) -> Call[Page[Any]]:
        return page_call(
            f"{self.path}/{key}/runs", PipelineRunOut, {"limit": limit, "offset": offset}
        )

    def get_run_call(self, run_id: str) -> Call[PipelineRunOut]:
        return Call("GET", f"{RUNS}/{run_id}", model(PipelineRunOut))

    def cancel_call(self, key: str) -> Call[PipelineRunOut]:
        return Call("POST", f"{self.path}/{key}/cancel", model(PipelineRunOut))

    def cancel_run_call(self, run_id: str) -> Call[PipelineRunOut]:
        return Call("POST", f"{RUNS}/{run_id}/cancel", model(PipelineRunOut))


def _left(deadline: float | None, run: PipelineRunOut) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise WaitTimeout(f"pipeline run {run.id} is still {run.status.value}")


class Pipelines(PipelineCalls, Collection[PipelineOut]):
    """`client.pipelines`: list, get, create, update, delete; run, cancel, watch runs."""

    def run(self, key: str) -> PipelineRunOut:
        """Start a pipeline run (409 `ConflictError` while one is under way)."""
        return self._t.call(self.run_call(key))

    def runs(
        self, key: str, *, limit: int | None = None, offset: int | None = None
    ) -> Page[PipelineRunOut]:
        """The pipeline's runs, newest first."""
        return self._t.call(self.runs_call(key, limit, offset))

    def get_run(self, run_id: str) -> PipelineRunOut:
        """One pipeline run, with each step's status and run id."""
        return self._t.call(self.get_run_call(run_id))

    def cancel(self, key: str) -> PipelineRunOut:
        """Cancel the pipeline's run under way."""
        return self._t.call(self.cancel_call(key))

    def cancel_run(self, run_id: str) -> PipelineRunOut:
        """Cancel a pipeline run."""
        return self._t.call(self.cancel_run_call(run_id))

    def wait(self, run_id: str, timeout: float | None = None) -> PipelineRunOut:
        """Poll until the pipeline run has ended; `WaitTimeout` past `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = FIRST_POLL
        while not (run := self.get_run(run_id)).status.is_final:
            _left(deadline, run)
            time.sleep(pause)
            pause = min(pause * 1.5, LAST_POLL)
        return run


class AsyncPipelines(PipelineCalls, AsyncCollection[PipelineOut]):
    """`AsyncClient.pipelines`: `Pipelines`' methods, awaited."""

    async def run(self, key: str) -> PipelineRunOut:
        """Start a pipeline run."""
        return await self._t.call(self.run_call(key))

    async def runs(
        self, key: str, *, limit: int | None = None, offset: int | None = None
    ) -> Page[PipelineRunOut]:
        """The pipeline's runs, newest first."""
        return await self._t.call(self.runs_call(key, limit, offset))

    async def get_run(self, run_id: str) -> PipelineRunOut:
        """One pipeline run."""
        return await self._t.call(self.get_run_call(run_id))

    async def cancel(self, key: str) -> PipelineRunOut:
        """Cancel the pipeline's run under way."""
        return await self._t.call(self.cancel_call(key))

    async def cancel_run(self, run_id: str) -> PipelineRunOut:
        """Cancel a pipeline run."""
        return await self._t.call(self.cancel_run_call(run_id))

    async def wait(self, run_id: str, timeout: float | None = None) -> PipelineRunOut:
        """Poll until the pipeline run has ended; see `Pipelines.wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = FIRST_POLL
        while not (run := await self.get_run(run_id)).status.is_final:
            _left(deadline, run)
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, LAST_POLL)
        return run
