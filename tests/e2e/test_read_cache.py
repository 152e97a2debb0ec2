"""The read cache of a real `conveyor serve` with two API processes, on each store: what one
process, or a worker, commits is what every process answers next."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import build_source
from tests.e2e.server import ADMIN_TOKEN, Server, running_server
from tests.e2e.test_server import setup_job
from tests.services import fresh_pg_database

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
READS = 24
"""Reads on connections of their own: the two processes take turns accepting them."""


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """`conveyor serve` with two API processes (workers in the supervisor) on the store."""
    env = {"CONVEYOR_API_PROCESSES": "2", "CONVEYOR_LOG_LEVEL": "INFO"}
    database: Any = fresh_pg_database() if request.param == "postgresql" else None
    with contextlib.ExitStack() as stack:
        if database is not None:
            env["CONVEYOR_DATABASE_URL"] = stack.enter_context(database)
        yield stack.enter_context(running_server(tmp_path, env=env))


def fresh_reads(server: Server, path: str) -> list[dict[str, Any]]:
    """The same GET, each on a new connection (so both API processes answer some)."""
    return [httpx.get(f"{server.url}{path}", headers=AUTH, timeout=30).json() for _ in range(READS)]


def test_a_write_in_one_process_is_read_back_from_every_process(
    server: Server, tmp_path: Path
) -> None:
    source = build_source(tmp_path / "source.db", 100)
    job = setup_job(server, source, tmp_path / "lake.duckdb", ["REPLICATE [items]"])
    shown = job["batch_size"]
    for batch_size in (111, 222, 333):
        # Both processes answer (and keep) the job as it is...
        assert {j["batch_size"] for j in fresh_reads(server, f"/api/v1/jobs/{job['id']}")} == {
            shown
        }
        # ...one of them changes it, and no read after that shows the old one.
        changed = httpx.patch(
            f"{server.url}/api/v1/jobs/{job['id']}",
            json={"batch_size": batch_size},
            headers=AUTH,
            timeout=30,
        )
        assert changed.status_code == 200, changed.text
        assert {j["batch_size"] for j in fresh_reads(server, f"/api/v1/jobs/{job['id']}")} == {
            batch_size
        }
        listed = fresh_reads(server, "/api/v1/jobs")
        assert {page["items"][0]["batch_size"] for page in listed} == {batch_size}
        shown = batch_size


def test_a_run_a_worker_finishes_is_read_as_finished(server: Server, tmp_path: Path) -> None:
    source = build_source(tmp_path / "source.db", 1000)
    job = setup_job(server, source, tmp_path / "lake.duckdb", ["REPLICATE [items]"])
    for _ in range(2):
        started = server.client.post(f"/api/v1/jobs/{job['id']}/execute")
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        pending = fresh_reads(server, f"/api/v1/runs/{run_id}")  # kept while it runs
        assert pending[0]["id"] == run_id
        final = server.wait_run(run_id)  # polls: answers kept before the end must not stick
        assert final["status"] == "completed", final
        for run in fresh_reads(server, f"/api/v1/runs/{run_id}"):
            assert run["status"] == "completed" and run["stats"]["rows_written"] == 1000
        for shown in fresh_reads(server, f"/api/v1/jobs/{job['id']}"):
            assert shown["last_run"]["id"] == run_id and shown["status"] == "completed"
