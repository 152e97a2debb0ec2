"""No store transaction is open while Conveyor waits on the outside world.

A connection's server that never answers (`tests.listeners.Silent`: it listens, never
accepts, never replies; the connection's `connect_timeout` is long) keeps a connection
test, a table listing or a post-job event waiting — and meanwhile other requests write
to the store and get their answer. The tests check the order of events, not durations:
the write is answered while the call that waits on the silent server is still pending,
and closing the server then ends that call (with a failure, never a 500).

A write transaction that outlasts `CONVEYOR_WRITE_TRANSACTION_BUDGET` is logged, naming
what opened it and, inside a request, the request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.store.session import unit_of_work
from tests.integration.test_api import make_job, wait_final
from tests.listeners import Silent

LONG = 120  # seconds: the silent server's clients would wait this long on their own


class Pending:
    """One request made in a thread of its own: it may wait on a silent server."""

    def __init__(self, call: Callable[[], httpx.Response]) -> None:
        self.response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], httpx.Response]) -> None:
        self.response = call()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> httpx.Response:
        self._thread.join(LONG)
        assert self.response is not None, "the request did not end when its server closed"
        return self.response


@pytest.fixture
def silent() -> Iterator[Silent]:
    with Silent() as server:
        yield server


def silent_connection(client: TestClient, port: int, name: str = "silent") -> str:
    """An admin's PostgreSQL connection to the silent server (loopback: admins may)."""
    created = client.post(
        "/api/v1/connections",
        json={
            "name": name,
            "url": f"postgresql://conveyor@127.0.0.1:{port}/db",
            "options": {"connect_timeout": LONG, "password": "canary-pw-41"},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def a_write(client: TestClient, name: str = "meanwhile") -> None:
    """A write through the request's own unit of work (a job is created)."""
    created = client.post("/api/v1/jobs", json={"name": name, "export_format": "csv"})
    assert created.status_code == 201, created.text


CALLS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "test": ("POST", "/api/v1/connections/{cid}/test", None),
    "tables": ("GET", "/api/v1/connections/{cid}/tables", None),
    "columns": ("GET", "/api/v1/connections/{cid}/tables/orders/columns", None),
    "tables-to-add": ("GET", "/api/v1/jobs/{jid}/tables-to-add", None),
    "cdata-test": ("POST", "/api.rsc/testconnection", {"ConnectionName": "silent"}),
    "cdata-tables": ("POST", "/api.rsc/getconnectiontables", {"ConnectionName": "silent"}),
    "cdata-columns": (
        "POST",
        "/api.rsc/getconnectiontablecolumns",
        {"ConnectionName": "silent", "Table": "orders"},
    ),
    "cdata-tables-to-add": (
        "POST",
        "/api.rsc/getaddingtablesforjob",
        {"ConnectionName": "silent", "JobName": "reads-silent"},
    ),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_write_is_answered_while_a_connection_is_waited_on(
    client: TestClient, silent: Silent, call: str
) -> None:
    cid = silent_connection(client, silent.port)
    job = client.post(
        "/api/v1/jobs",
        json={
            "name": "reads-silent",
            "source_connection_id": cid,
            "export_format": "csv",
            "queries": ["REPLICATE [a]"],
        },
    )
    assert job.status_code == 201, job.text
    method, path, body = CALLS[call]
    url = path.format(cid=cid, jid=job.json()["id"])
    pending = Pending(lambda: client.request(method, url, json=body))
    assert silent.wait_for_client(), "the call never reached the connection's server"
    a_write(client)
    assert not pending.done  # the write was answered while the call still waited
    silent.close()
    answer = pending.result()
    assert answer.status_code != 500, answer.text
    assert "canary-pw-41" not in answer.text
    if call == "test":
        assert answer.status_code == 200 and answer.json()["ok"] is False
        stored = client.get(f"/api/v1/connections/{cid}").json()
        assert stored["last_test_ok"] is False and stored["last_tested_at"] is not None
    else:
        assert answer.status_code >= 400


def test_a_connection_deleted_during_its_test_records_nothing(
    client: TestClient, silent: Silent
) -> None:
    cid = silent_connection(client, silent.port)
    pending = Pending(lambda: client.post(f"/api/v1/connections/{cid}/test"))
    assert silent.wait_for_client()
    assert client.delete(f"/api/v1/connections/{cid}").status_code == 204
    assert not pending.done
    silent.close()
    answer = pending.result()
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is False
    assert client.get(f"/api/v1/connections/{cid}").status_code == 404


def test_a_connection_pointed_elsewhere_during_its_test_keeps_no_outcome(
    client: TestClient, silent: Silent
) -> None:
    cid = silent_connection(client, silent.port)
    pending = Pending(lambda: client.post(f"/api/v1/connections/{cid}/test"))
    assert silent.wait_for_client()
    with Silent() as other:
        moved = client.patch(
            f"/api/v1/connections/{cid}",
            json={
                "url": f"postgresql://conveyor@127.0.0.1:{other.port}/db",
                "options": {"connect_timeout": LONG, "password": "canary-pw-42"},
            },
        )
        assert moved.status_code == 200, moved.text
    assert not pending.done
    silent.close()
    assert pending.result().json()["ok"] is False  # the old target's outcome …
    stored = client.get(f"/api/v1/connections/{cid}").json()
    assert stored["last_tested_at"] is None  # … is not the new target's


def test_a_write_is_answered_while_a_post_job_event_is_waited_on(
    client: TestClient, silent: Silent, shop_db: Path, tmp_path: Path
) -> None:
    hook = {"url": f"http://127.0.0.1:{silent.port}/hook", "timeout": LONG}
    job = make_job(client, shop_db, tmp_path, post_job_event=hook)
    run = client.post(f"/api/v1/jobs/{job['id']}/execute").json()
    assert wait_final(client, run["id"])["status"] == "completed"
    assert silent.wait_for_client(), "the post-job event was never sent"
    a_write(client)
    again = client.post(f"/api/v1/jobs/{job['id']}/execute").json()
    assert wait_final(client, again["id"])["status"] == "completed"


def test_a_write_transaction_over_its_budget_is_logged(
    store_settings: Settings, admin_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    rt = Runtime.create(store_settings.model_copy(update={"write_transaction_budget": 0.01}))
    try:
        rt.migrate()
        rt.bootstrap()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="conveyor.store.session"):
            with unit_of_work(rt.factory, read_only=True):
                time.sleep(0.05)  # a read transaction holds up no writer: not timed
            assert not caplog.records
            with unit_of_work(rt.factory) as session:
                session.connection()  # BEGIN
                time.sleep(0.05)
            with rt.unit() as ctx:  # through the runtime: still named after its caller
                ctx.session.connection()
                time.sleep(0.05)
        first, second = (r.getMessage() for r in caplog.records)
        for message in (first, second):
            assert ".test_a_write_transaction_over_its_budget_is_logged " in message
            assert "CONVEYOR_WRITE_TRANSACTION_BUDGET" in message
    finally:
        rt.close()


def test_the_budget_warning_names_the_request(
    store_settings: Settings, admin_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    rt = Runtime.create(store_settings.model_copy(update={"write_transaction_budget": 1e-9}))
    try:
        rt.migrate()
        rt.bootstrap()
        with TestClient(create_app(rt, workers=False), headers=admin_headers) as client:
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="conveyor.store.session"):
                created = client.post("/api/v1/workspaces", json={"name": "budgeted"})
                assert created.status_code == 201, created.text
    finally:
        rt.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any("(POST /api/v1/workspaces)" in m for m in messages), messages


@pytest.mark.parametrize("call", ["add-task", "change-task", "create-job"])
def test_a_write_is_answered_while_a_check_column_is_vetted(
    client: TestClient, silent: Silent, call: str
) -> None:
    """Saving a statement that names a check column asks the source for its columns
    (issue 17) with no transaction open; a source that cannot answer does not stop the
    save (runs check the column again)."""
    cid = silent_connection(client, silent.port)
    base = {"source_connection_id": cid, "export_format": "csv"}
    job = client.post("/api/v1/jobs", json={"name": "vets", **base, "queries": ["REPLICATE [a]"]})
    assert job.status_code == 201, job.text
    tasks = f"/api/v1/jobs/{job.json()['id']}/tasks"
    query = "REPLICATE [a] WITH IncrementalCheckColumns='updated_at'"
    if call == "add-task":
        pending = Pending(lambda: client.post(tasks, json={"query": query}))
    elif call == "change-task":
        task_id = client.get(tasks).json()["items"][0]["id"]
        pending = Pending(lambda: client.patch(f"{tasks}/{task_id}", json={"query": query}))
    else:
        body = {"name": "vets-too", **base, "queries": [query]}
        pending = Pending(lambda: client.post("/api/v1/jobs", json=body))
    assert silent.wait_for_client(), "the check column was not vetted against the source"
    a_write(client)
    assert not pending.done  # the write was answered while the save still waited
    silent.close()
    answer = pending.result()
    assert answer.status_code in (200, 201), answer.text
    assert "canary-pw-41" not in answer.text
