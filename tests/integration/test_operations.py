"""Operating Conveyor: emails after runs, Prometheus metrics, graceful stop of a pool."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from tests.e2e.server import free_port
from tests.integration.test_api import make_job


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=30)
    controller.start()
    yield inbox, port
    controller.stop()


def wait_for(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def mailing_runtime(settings: Settings, smtp: tuple[Inbox, int]) -> tuple[Inbox, Runtime]:
    """A migrated, bootstrapped runtime that sends its emails to the test's SMTP inbox."""
    inbox, port = smtp
    update = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "sync@example.com"}
    runtime = Runtime.create(settings.model_copy(update=update))
    runtime.migrate()
    runtime.bootstrap()
    return inbox, runtime


def test_job_emails_after_runs_and_only_errors_when_asked(
    store_settings: Settings,
    smtp: tuple[Inbox, int],
    shop_db: Path,
    tmp_path: Path,
    admin_headers: dict[str, str],
) -> None:
    inbox, runtime = mailing_runtime(store_settings, smtp)
    with TestClient(create_app(runtime, shutdown_grace=5), headers=admin_headers) as client:
        job = make_job(
            client,
            shop_db,
            tmp_path,
            send_email=True,
            email_to="ops@example.com, data@example.com",
            email_subject="Nightly copy",
        )
        assert (
            client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True}).json()["status"]
            == "completed"
        )
        wait_for(lambda: len(inbox.messages) == 1)
        mail = inbox.messages[0]
        assert mail.mail_from == "sync@example.com" and sorted(mail.rcpt_tos) == [
            "data@example.com",
            "ops@example.com",
        ]
        text = mail.content.decode()
        assert "Subject: Nightly copy" in text and "completed" in text and "1,000" in text
        client.patch(f"/api/v1/jobs/{job['id']}", json={"email_error_only": True})
        assert (
            client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True}).json()["status"]
            == "completed"
        )
        client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [missing_table]"})
        assert (
            client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True}).json()["status"]
            == "error"
        )
        wait_for(lambda: len(inbox.messages) == 2)
        time.sleep(0.5)
        assert len(inbox.messages) == 2  # the completed run in between sent nothing
        assert "missing_table" in inbox.messages[1].content.decode()
    runtime.close()


def test_metrics_show_the_queue_and_api_latency(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path)
    client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True})
    anonymous = TestClient(client.app)
    assert anonymous.get("/metrics").status_code == 401
    text = client.get("/metrics").text
    assert 'conveyor_runs{status="completed"} 1.0' in text
    for name in (
        "conveyor_queue_depth",
        "conveyor_queue_oldest_pending_seconds",
        "conveyor_heartbeat_lag_seconds",
        "conveyor_rows_written_total 1000.0",
        "conveyor_bytes_written_total",
        'conveyor_http_request_duration_seconds_count{method="POST",route="/api/v1/jobs/{job_id}/execute",status="2xx"}',
    ):
        assert name in text, [line for line in text.splitlines() if "execute" in line]


def test_a_connection_limit_holds_back_runs(
    runtime: Runtime, client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    from conveyor.services import runs
    from conveyor.services.jobs import get as get_job

    first = make_job(client, shop_db, tmp_path)
    assert (
        client.patch(
            f"/api/v1/connections/{first['source_connection_id']}", json={"max_concurrent_runs": 1}
        ).json()["max_concurrent_runs"]
        == 1
    )
    second = client.post(
        "/api/v1/jobs",
        json={
            "name": "second",
            "source_connection_id": first["source_connection_id"],
            "destination_connection_id": first["destination_connection_id"],
            "queries": ["REPLICATE [orders]"],
        },
    ).json()
    with (
        runtime.unit() as ctx
    ):  # enqueue directly: no worker of this pool claims them (far-future check below)
        for job_id in (first["id"], second["id"]):
            runs.enqueue(ctx, get_job(ctx, job_id), None)
    # The test client's own workers may take one; there is never a second at once.
    seen_two = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = [r["status"] for r in client.get("/api/v1/runs").json()["items"]]
        seen_two = seen_two or statuses.count("in_progress") > 1
        if statuses and all(s == "completed" for s in statuses):
            break
        time.sleep(0.02)
    assert not seen_two and all(s == "completed" for s in statuses)


def test_transient_failures_are_retried_and_terminal_ones_are_not(
    store_settings: Settings, shop_db: Path, tmp_path: Path, admin_headers: dict[str, str]
) -> None:
    runtime = Runtime.create(store_settings.model_copy(update={"retry_backoff": 0.2}))
    runtime.migrate()
    runtime.bootstrap()
    with TestClient(create_app(runtime, shutdown_grace=5), headers=admin_headers) as client:
        job = make_job(client, shop_db, tmp_path, max_attempts=3)
        client.post(
            f"/api/v1/jobs/{job['id']}/tasks",
            json={"query": "REPLICATE [gone] SELECT * FROM [no_such_table]"},
        )
        run = client.post(
            f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 30}
        ).json()
        assert (run["status"], run["attempt"]) == (
            "error",
            1,
        )  # a missing table is not worth retrying
        # a server that is not there: transient, so retried until attempts run out
        flaky = client.post(
            "/api/v1/connections",
            json={
                "name": "flaky",
                "url": "postgresql://postgres@127.0.0.1:1/nowhere",
                "options": {"connect_timeout": 1},
            },
        ).json()
        job2 = client.post(
            "/api/v1/jobs",
            json={
                "name": "to-nowhere",
                "source_connection_id": job["source_connection_id"],
                "destination_connection_id": flaky["id"],
                "max_attempts": 3,
                "queries": ["REPLICATE [orders]"],
            },
        ).json()
        run = client.post(
            f"/api/v1/jobs/{job2['id']}/execute", json={"wait": True, "timeout": 60}
        ).json()
        logs = [
            line["message"]
            for line in client.get(f"/api/v1/runs/{run['id']}/logs", params={"limit": 1000}).json()[
                "items"
            ]
        ]
        assert run["status"] == "error" and run["attempt"] == 3, (run, logs)
        assert sum("started on worker" in m for m in logs) == 3
    runtime.close()


def test_a_run_stores_and_mails_the_lines_of_its_verbosity(
    store_settings: Settings,
    smtp: tuple[Inbox, int],
    shop_db: Path,
    tmp_path: Path,
    admin_headers: dict[str, str],
) -> None:
    inbox, runtime = mailing_runtime(store_settings, smtp)
    with TestClient(create_app(runtime, shutdown_grace=5), headers=admin_headers) as client:
        job = make_job(
            client, shop_db, tmp_path, send_email=True, email_to="ops@example.com", verbosity=1
        )

        def run_and_mail(count: int) -> tuple[set[str], str]:
            run = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True}).json()
            wait_for(lambda: len(inbox.messages) == count)
            logs = client.get(f"/api/v1/runs/{run['id']}/logs").json()["items"]
            return {line["level"] for line in logs}, inbox.messages[-1].content.decode()

        stored, mailed = run_and_mail(1)
        assert stored == set() and "[INFO]" not in mailed  # a clean run at 1: nothing to say
        client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [missing_table]"})
        stored, mailed = run_and_mail(2)
        assert stored == {"error"} and "[ERROR]" in mailed and "[INFO]" not in mailed
        client.patch(f"/api/v1/jobs/{job['id']}", json={"verbosity": 3})
        stored, mailed = run_and_mail(3)
        assert {"error", "info", "detail"} <= stored
        assert "[DETAIL]" in mailed and "reading" in mailed
    runtime.close()
