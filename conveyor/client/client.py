"""`Client` and `AsyncClient`: one object per server, a resource attribute per collection.

    from conveyor.client import Client

    with Client("http://127.0.0.1:8077", token="cvy_…") as client:   # or CONVEYOR_URL/TOKEN
        for job in client.jobs.iter(sort="name"):
            print(job.name, job.status)

The async client has the same attributes, each method awaited::

    async with AsyncClient() as client:
        run = await client.jobs.execute(job_id)
        await run.wait()
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from conveyor.client.connections import AsyncConnections, Connections
from conveyor.client.files import AsyncFiles, Files
from conveyor.client.jobs import AsyncJobs, Jobs
from conveyor.client.pipelines import AsyncPipelines, Pipelines
from conveyor.client.runs import AsyncRuns, Runs
from conveyor.client.tasks import AsyncTasks, Tasks
from conveyor.client.transformations import AsyncTransformations, Transformations
from conveyor.client.transport import AsyncTransport, Call, Transport, headers, settings
from conveyor.client.users import AsyncUsers, Users
from conveyor.client.workspaces import AsyncWorkspaces, Workspaces

DEFAULT_TIMEOUT = 60.0


def _health(answer: Any) -> dict[str, Any]:
    return dict(answer)


class Client:
    """A synchronous client of a Conveyor server's native API.

    `url` and `token` default to `CONVEYOR_URL` (else http://127.0.0.1:8077) and
    `CONVEYOR_TOKEN`. `http` is an `httpx.Client` of your own (proxies, TLS settings,
    a test transport); its base URL and headers are then yours to set.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
    ) -> None:
        self.url, token = settings(url, token)
        self.http = http or httpx.Client(base_url=self.url, headers=headers(token), timeout=timeout)
        transport = Transport(self.http)
        self.runs = Runs(transport)
        self.connections = Connections(transport)
        self.jobs = Jobs(transport, self.runs)
        self.tasks = Tasks(transport)
        self.files = Files(transport)
        self.transformations = Transformations(transport, self.runs)
        self.pipelines = Pipelines(transport)
        self.users = Users(transport)
        self.workspaces = Workspaces(transport)
        self._transport = transport

    def health(self) -> dict[str, Any]:
        """`/healthz`: whether the server answers (no token needed)."""
        return self._transport.call(Call("GET", "/healthz", _health))

    def close(self) -> None:
        """Close the connections to the server."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """An asynchronous client: `Client`'s attributes, their methods awaited."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url, token = settings(url, token)
        self.http = http or httpx.AsyncClient(
            base_url=self.url, headers=headers(token), timeout=timeout
        )
        transport = AsyncTransport(self.http)
        self.runs = AsyncRuns(transport)
        self.connections = AsyncConnections(transport)
        self.jobs = AsyncJobs(transport, self.runs)
        self.tasks = AsyncTasks(transport)
        self.files = AsyncFiles(transport)
        self.transformations = AsyncTransformations(transport, self.runs)
        self.pipelines = AsyncPipelines(transport)
        self.users = AsyncUsers(transport)
        self.workspaces = AsyncWorkspaces(transport)
        self._transport = transport

    async def health(self) -> dict[str, Any]:
        """`/healthz`: whether the server answers (no token needed)."""
        return await self._transport.call(Call("GET", "/healthz", _health))

    async def aclose(self) -> None:
        """Close the connections to the server."""
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
