"""Transformations: SQL run on a destination after a job, on a schedule or on demand.

t = client.transformations.create(
    name="totals", connection_id=dst.id, queries=["CREATE TABLE t AS SELECT 1"]
)
client.transformations.execute(t.id).wait(check=True)
"""

from __future__ import annotations

from typing import Any

from conveyor.client.collection import AsyncCollection, Calls, Collection
from conveyor.client.runs import AsyncRun, AsyncRuns, Run, Runs
from conveyor.client.transport import AsyncTransport, Call, Transport
from conveyor.schemas.transformations import TransformationOut


class TransformationCalls(Calls[TransformationOut]):
    """The requests of `/api/v1/transformations`."""

    path = "/api/v1/transformations"
    out = TransformationOut

    def execute_call(self, key: str, parse: Any) -> Call[Any]:
        return Call("POST", f"{self.path}/{key}/execute", parse)


class Transformations(TransformationCalls, Collection[TransformationOut]):
    """`client.transformations`: list, get, create, update, delete and execute."""

    def __init__(self, transport: Transport, runs: Runs) -> None:
        super().__init__(transport)
        self._runs = runs

    def execute(self, key: str) -> Run:
        """Queue a run of the transformation."""
        return self._runs._bind(self._t.call(self.execute_call(key, Run.model_validate)))


class AsyncTransformations(TransformationCalls, AsyncCollection[TransformationOut]):
    """`AsyncClient.transformations`: `Transformations`' methods, awaited."""

    def __init__(self, transport: AsyncTransport, runs: AsyncRuns) -> None:
        super().__init__(transport)
        self._runs = runs

    async def execute(self, key: str) -> AsyncRun:
        """Queue a run of the transformation."""
        run: AsyncRun = await self._t.call(self.execute_call(key, AsyncRun.model_validate))
        return self._runs._bind(run)
