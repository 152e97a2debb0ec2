"""Runs: executions of jobs, which a client waits for, follows and cancels.

Every run the client returns is a `Run` (an `AsyncRun` from `AsyncClient`): the API's
`RunOut` with methods that ask the server again::

    run = client.jobs.execute(job.id)
    for line in run.follow():          # log lines as they are written, until the run ends
        print(line.level, line.message)
    print(run.status, run.stats.rows_written)

    run = client.jobs.execute(job.id).wait(timeout=600, check=True)  # RunFailed unless completed
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from conveyor.client.collection import AsyncReadable, Calls, Readable
from conveyor.client.errors import RunFailed, WaitTimeout
from conveyor.client.transport import Call, nothing, page_call
from conveyor.domain import RunStatus
from conveyor.schemas.common import Page
from conveyor.schemas.files import FileOut
from conveyor.schemas.runs import RunLogOut, RunOut

LOG_PAGE = 1000
"""Log lines per request (the API's maximum page)."""
FIRST_POLL, LAST_POLL = 0.1, 2.0
"""Waiting polls soon, then less and less often, up to every two seconds."""


def _final(run: RunOut, check: bool) -> None:
    if check and run.status is not RunStatus.completed:
        raise RunFailed(f"run {run.id} ended {run.status.value}: {run.error or ''}".strip(), run)


def _left(deadline: float | None, run: RunOut) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise WaitTimeout(f"run {run.id} is still {run.status.value}")


def _past(page: Page[RunLogOut], after: int | None) -> tuple[int | None, bool]:
    """Where `follow` reads on from after a page of log lines, and whether a full page
    says more may already be there (a short one: wait for the run to write more)."""
    return (page.items[-1].id if page.items else after), len(page.items) >= LOG_PAGE


class RunCalls(Calls[Any]):
    """The requests of `/api/v1/runs`."""

    path = "/api/v1/runs"

    def cancel_call(self, key: str) -> Call[Any]:
        return Call("POST", f"{self.path}/{key}/cancel", self.out.model_validate)

    def retry_call(self, key: str) -> Call[Any]:
        return Call("POST", f"{self.path}/{key}/retry", self.out.model_validate)

    def logs_call(
        self, key: str, after: int | None, limit: int | None, offset: int | None = None
    ) -> Call[Page[RunLogOut]]:
        params = {"after": after, "limit": limit, "offset": offset}
        return page_call(f"{self.path}/{key}/logs", RunLogOut, params)

    def files_call(self, key: str) -> Call[Page[FileOut]]:
        return page_call(f"{self.path}/{key}/files", FileOut, {"limit": LOG_PAGE})

    def delete_call(self, key: str) -> Call[None]:
        return Call("DELETE", f"{self.path}/{key}", nothing)


class Run(RunOut):
    """A run, with the requests that follow it; `wait` and `refresh` update it in place."""

    _runs: Runs = PrivateAttr()

    def refresh(self) -> Run:
        """Read the run again from the server."""
        fresh = self._runs.get(self.id)
        self.__dict__.update(fresh.__dict__)
        return self

    def wait(self, timeout: float | None = None, *, check: bool = False) -> Run:
        """Poll until the run is final (completed, error or canceled); `WaitTimeout` past
        `timeout` seconds; with `check`, `RunFailed` unless it completed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = FIRST_POLL
        while not self.status.is_final:
            _left(deadline, self)
            time.sleep(pause)
            pause = min(pause * 1.5, LAST_POLL)
            self.refresh()
        _final(self, check)
        return self

    def follow(self, poll: float = 0.5) -> Iterator[RunLogOut]:
        """Every log line, as it is written, until the run is final (then the run is too)."""
        after: int | None = None
        while True:
            final = self.refresh().status.is_final  # lines logged before it are all there
            while True:
                page = self._runs.logs(self.id, after=after, limit=LOG_PAGE)
                yield from page.items
                after, more = _past(page, after)
                if not more:
                    break
            if final:
                return
            time.sleep(poll)

    def cancel(self) -> Run:
        """Ask the run to stop: a pending run is canceled, a running one is canceling."""
        self.__dict__.update(self._runs.cancel(self.id).__dict__)
        return self

    def logs(self) -> builtins.list[RunLogOut]:
        """The log lines written so far."""
        return builtins.list(self._runs.iter_logs(self.id))

    def files(self) -> builtins.list[FileOut]:
        """The files the run wrote."""
        return self._runs.files(self.id)


class Runs(RunCalls, Readable[Any]):
    """`client.runs`: list (`status="error"`, `job_id=…`), get, cancel, retry, logs, files."""

    out = Run

    def _bind(self, run: Run) -> Run:
        run._runs = self
        return run

    def list(self, **kw: Any) -> Page[Run]:
        """One page of runs; see `Collection.list` for paging, sort and filters."""
        page: Page[Run] = super().list(**kw)
        for run in page.items:
            self._bind(run)
        return page

    def iter(self, **kw: Any) -> Iterator[Run]:
        """Every matching run, page after page."""
        for run in super().iter(**kw):
            yield self._bind(run)

    def get(self, key: str) -> Run:
        """One run."""
        return self._bind(self._t.call(self.get_call(key)))

    def cancel(self, key: str) -> Run:
        """Cancel a run (409 when it is already final)."""
        return self._bind(self._t.call(self.cancel_call(key)))

    def retry(self, key: str) -> Run:
        """A new run doing what a failed or canceled run did."""
        return self._bind(self._t.call(self.retry_call(key)))

    def delete(self, key: str) -> None:
        """Delete a final run and its files."""
        self._t.call(self.delete_call(key))

    def logs(
        self, key: str, *, after: int | None = None, limit: int | None = None
    ) -> Page[RunLogOut]:
        """One page of a run's log lines, oldest first; `after` a line's id for newer ones."""
        return self._t.call(self.logs_call(key, after, limit))

    def iter_logs(self, key: str) -> Iterator[RunLogOut]:
        """Every log line written so far."""
        return self._t.pages(lambda offset: self.logs_call(key, None, LOG_PAGE, offset))

    def files(self, key: str) -> builtins.list[FileOut]:
        """The files a run wrote."""
        return self._t.call(self.files_call(key)).items

    def download(self, key: str, target: str | Path, *, zip: bool = False) -> Path:
        """Save the run's result (its one file, or a ZIP of several) to `target`."""
        query = "?zip=true" if zip else ""
        return self._t.download(f"{self.path}/{key}/download{query}", Path(target))


class AsyncRun(RunOut):
    """A run of the async client: `Run`'s methods, awaited."""

    _runs: AsyncRuns = PrivateAttr()

    async def refresh(self) -> AsyncRun:
        """Read the run again from the server."""
        fresh = await self._runs.get(self.id)
        self.__dict__.update(fresh.__dict__)
        return self

    async def wait(self, timeout: float | None = None, *, check: bool = False) -> AsyncRun:
        """Poll until the run is final; see `Run.wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = FIRST_POLL
        while not self.status.is_final:
            _left(deadline, self)
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, LAST_POLL)
            await self.refresh()
        _final(self, check)
        return self

    async def follow(self, poll: float = 0.5) -> AsyncIterator[RunLogOut]:
        """Every log line, as it is written, until the run is final."""
        after: int | None = None
        while True:
            final = (await self.refresh()).status.is_final
            while True:
                page = await self._runs.logs(self.id, after=after, limit=LOG_PAGE)
                for line in page.items:
                    yield line
                after, more = _past(page, after)
                if not more:
                    break
            if final:
                return
            await asyncio.sleep(poll)

    async def cancel(self) -> AsyncRun:
        """Ask the run to stop."""
        self.__dict__.update((await self._runs.cancel(self.id)).__dict__)
        return self


class AsyncRuns(RunCalls, AsyncReadable[Any]):
    """`AsyncClient.runs`: `Runs`' methods, awaited."""

    out = AsyncRun

    def _bind(self, run: AsyncRun) -> AsyncRun:
        run._runs = self
        return run

    async def list(self, **kw: Any) -> Page[AsyncRun]:
        """One page of runs."""
        page: Page[AsyncRun] = await super().list(**kw)
        for run in page.items:
            self._bind(run)
        return page

    async def iter(self, **kw: Any) -> AsyncIterator[AsyncRun]:  # type: ignore[override]
        """Every matching run, page after page (`async for`)."""
        async for run in super().iter(**kw):
            yield self._bind(run)

    async def get(self, key: str) -> AsyncRun:
        """One run."""
        return self._bind(await self._t.call(self.get_call(key)))

    async def cancel(self, key: str) -> AsyncRun:
        """Cancel a run."""
        return self._bind(await self._t.call(self.cancel_call(key)))

    async def retry(self, key: str) -> AsyncRun:
        """A new run doing what a failed or canceled run did."""
        return self._bind(await self._t.call(self.retry_call(key)))

    async def delete(self, key: str) -> None:
        """Delete a final run and its files."""
        await self._t.call(self.delete_call(key))

    async def logs(
        self, key: str, *, after: int | None = None, limit: int | None = None
    ) -> Page[RunLogOut]:
        """One page of a run's log lines, oldest first."""
        return await self._t.call(self.logs_call(key, after, limit))

    async def files(self, key: str) -> builtins.list[FileOut]:
        """The files a run wrote."""
        return (await self._t.call(self.files_call(key))).items

    async def download(self, key: str, target: str | Path, *, zip: bool = False) -> Path:
        """Save the run's result to `target`."""
        query = "?zip=true" if zip else ""
        return await self._t.download(f"{self.path}/{key}/download{query}", Path(target))
