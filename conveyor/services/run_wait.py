"""Waiting for a run to end, for requests that answer only when it has (or time is up).

The native `execute` with `wait`, CData's executeJob with a timeout and SCAPI's
synchronous datafeed hold the request open while workers — in this process or another —
execute the run. The run is not this request's to change, so the wait reads its status
in short transactions of their own on the session factory (never a request's unit of
work, which would hold a snapshot and a connection for the whole wait), from a thread,
backing off from 50 ms to 0.5 s so a quick run answers quickly.
"""

from __future__ import annotations

import asyncio
import time

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conveyor.domain import RunStatus
from conveyor.store.models import Run
from conveyor.store.session import unit_of_work

FIRST_DELAY = 0.05
LONGEST_DELAY = 0.5


async def wait_until_final(factory: sessionmaker[Session], run_id: str, timeout: float) -> bool:
    """Poll until the run is final (or gone) or `timeout` seconds passed; whether it is."""

    def status() -> str | None:
        with unit_of_work(factory) as session:
            return session.scalar(select(Run.status).where(Run.id == run_id))

    deadline = time.monotonic() + timeout
    delay = FIRST_DELAY
    while True:
        current = await anyio.to_thread.run_sync(status)  # what Starlette's threadpool runs
        if current is None or RunStatus(current).is_final:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, LONGEST_DELAY)
