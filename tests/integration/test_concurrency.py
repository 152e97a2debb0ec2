"""Under load the API keeps answering: reads never wait for writers, excess requests queue.

- A GET runs in a read transaction: on SQLite it answers while another connection holds
  the write lock, and a write inside a read-only unit fails at once (no lock upgrade).
- Requests beyond the store's pool wait in line for it (`conveyor.capacity`) and all get
  their answer; only one that waited past `CONVEYOR_API_QUEUE_TIMEOUT` answers 503 with
  `Retry-After`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.store.models import Workspace
from conveyor.store.session import unit_of_work


@pytest.fixture
def sqlite_runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.create(settings)
    rt.migrate()
    rt.bootstrap()
    yield rt
    rt.close()


def test_a_get_answers_while_another_connection_holds_the_write_lock(
    sqlite_runtime: Runtime, admin_headers: dict[str, str]
) -> None:
    app = create_app(sqlite_runtime, workers=False)
    with TestClient(app, headers=admin_headers) as client:
        assert client.get("/api/v1/jobs").status_code == 200  # the token's use is noted now
        database = sqlite_runtime.engine.url.database
        assert database is not None
        writer = sqlite3.connect(Path(database), isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE workspaces SET name = name")
            assert client.get("/api/v1/jobs").status_code == 200
            assert client.get("/api/v1/workspaces/default").status_code == 200
        finally:
            writer.execute("ROLLBACK")
            writer.close()


def test_a_read_only_unit_refuses_writes_instead_of_upgrading(runtime: Runtime) -> None:
    with pytest.raises(DBAPIError), unit_of_work(runtime.factory, read_only=True) as session:
        assert session.scalar(select(Workspace.id).limit(1)) == "default"
        session.execute(text("UPDATE workspaces SET name = name"))
    with unit_of_work(runtime.factory) as session:  # the connection is writable again
        session.execute(text("UPDATE workspaces SET name = name"))


def _concurrent_gets(app: object, headers: dict[str, str], count: int) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers, timeout=120
        ) as client:
            answers: list[httpx.Response] = []

            async def one(i: int) -> None:
                path = "/api/v1/jobs" if i % 2 else "/api/v1/workspaces/default"
                answers.append(await client.get(path))

            async with anyio.create_task_group() as group:
                for i in range(count):
                    group.start_soon(one, i)
            return answers

    return anyio.run(main)


def test_requests_beyond_the_pool_queue_and_all_answer(
    store_settings: Settings, admin_headers: dict[str, str]
) -> None:
    settings = store_settings.model_copy(update={"api_concurrency": 2, "workers": 0})
    rt = Runtime.create(settings)
    try:
        rt.migrate()
        rt.bootstrap()
        pool = rt.engine.pool
        capacity = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
        answers = _concurrent_gets(create_app(rt, workers=False), admin_headers, capacity * 3)
    finally:
        rt.close()
    assert len(answers) == capacity * 3
    assert {a.status_code for a in answers} == {200}


def test_a_request_that_waits_too_long_answers_503_with_retry_after(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    tight = settings.model_copy(update={"api_concurrency": 1, "api_queue_timeout": 0.05})
    rt = Runtime.create(tight)
    try:
        rt.migrate()
        rt.bootstrap()
        app = create_app(rt, workers=False)

        async def main() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=admin_headers
            ) as client:
                slots = app.state.admission.slots
                await slots.acquire()  # someone else is working and stays
                try:
                    return await client.get("/api/v1/jobs")
                finally:
                    slots.release()

        answer = anyio.run(main)
    finally:
        rt.close()
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
