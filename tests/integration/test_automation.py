"""Transformations, schedules and job events, through the API with real workers."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from conveyor.config import Settings
from conveyor.policy import Reach
from conveyor.runtime import Runtime
from conveyor.scheduler.cron import Scheduler, latest_fire
from conveyor.webhooks import verify
from tests.integration.test_api import make_job, wait_final

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cw=="


class Receiver:
    """A local HTTP endpoint recording the events it receives; answers what it is told."""

    def __init__(self, answer: dict[str, Any] | None = None, fail_first: int = 0) -> None:
        self.events: list[tuple[dict[str, str], bytes]] = []
        self.answer = answer or {}
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.events.append(({k.lower(): v for k, v in self.headers.items()}, body))
                payload = json.dumps(receiver.answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The server's settings with the receivers' address listed: a workspace's events reach
    loopback only when it is (see tests/integration/test_event_hosts.py)."""
    return settings.model_copy(update={"allowed_hosts": ["127.0.0.1"]})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_transformation_runs_after_the_job_when_its_tasks_loaded_rows(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path)
    task_id = client.get(f"/api/v1/jobs/{job['id']}/tasks").json()["items"][0]["id"]
    created = client.post(
        "/api/v1/transformations",
        json={
            "name": "totals",
            "connection_id": job["destination_connection_id"],
            "queries": [
                "CREATE OR REPLACE TABLE totals AS SELECT count(*) AS n, sum(total) AS s FROM orders",
                "INSERT INTO totals VALUES (-1, 0)",
            ],
            "trigger_mode": "after_job",
            "trigger_after_job_id": job["id"],
            "trigger_tasks": [task_id],
        },
    )
    assert created.status_code == 201, created.text
    run = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True}).json()
    assert run["status"] == "completed"
    deadline = time.monotonic() + 30
    while (status := client.get(f"/api/v1/transformations/{created.json()['id']}").json())[
        "status"
    ] not in ("completed", "error"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["status"] == "completed", status
    transform_run = client.get(f"/api/v1/runs/{status['last_run_id']}").json()
    assert transform_run["kind"] == "transformation" and transform_run["job_id"] is None
    assert [t["status"] for t in transform_run["tasks"]] == ["completed", "completed"]
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as lake:
        assert lake.execute("SELECT n FROM totals ORDER BY n").fetchall() == [(-1,), (1000,)]
    bad = client.post(
        "/api/v1/transformations",
        json={
            "name": "x",
            "connection_id": job["destination_connection_id"],
            "queries": ["SELECT 1"],
            "trigger_mode": "after_job",
        },
    )
    assert bad.status_code == 422 and "trigger_after_job_id" in bad.json()["detail"]


def test_a_failing_transformation_statement_fails_its_run(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path)
    item = client.post(
        "/api/v1/transformations",
        json={
            "name": "broken",
            "connection_id": job["destination_connection_id"],
            "queries": ["SELECT * FROM nowhere"],
        },
    ).json()
    run = client.post(f"/api/v1/transformations/{item['id']}/execute").json()
    final = wait_final(client, run["id"])
    assert final["status"] == "error" and "nowhere" in final["error"]


def test_scheduler_replicas_enqueue_each_tick_once(
    runtime: Runtime, client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path, schedule={"enabled": True, "cron": "* * * * *"})
    replicas = [runtime.scheduler() for _ in range(3)]
    # the next minute's tick: the app's own scheduler has not reached it yet
    now = latest_fire("* * * * *", dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=80)
    started: list[str] = []
    threads = [threading.Thread(target=lambda s=s: started.extend(s.tick(now))) for s in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 1
    run = wait_final(client, started[0])
    assert run["trigger_method"] == "scheduled" and run["status"] == "completed"
    assert all(not s.tick(now) for s in replicas)  # the same tick never fires again
    scheduled = client.get(
        "/api/v1/runs", params={"job_id": job["id"], "trigger_method": "scheduled"}
    ).json()
    assert started[0] in [r["id"] for r in scheduled["items"]]


def test_ticks_missed_while_down_are_skipped_once(
    runtime: Runtime, client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from conveyor.store.models import Job, ScheduleTick

    job = make_job(client, shop_db, tmp_path, schedule={"enabled": True, "cron": "0 0 * * *"})
    with runtime.unit() as ctx:
        ctx.session.get(Job, job["id"]).schedule_since = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    down_until = dt.datetime.now(dt.UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    fired: list[str] = []
    scheduler = Scheduler(
        runtime.factory, lambda *a: fired.append("run") or "run-id", catch_up=3600
    )
    assert scheduler.tick(down_until) == [] and fired == []  # midnight's tick is 3 h old: skipped
    with runtime.unit() as ctx:
        outcomes = ctx.session.scalars(
            select(ScheduleTick.outcome).where(ScheduleTick.target_id == job["id"])
        ).all()
    assert outcomes == ["skipped: missed while down"]
    catching_up = Scheduler(
        runtime.factory, lambda *a: fired.append("run") or "run-id", catch_up=4 * 3600
    )
    assert catching_up.tick(down_until) == []  # already recorded: never fires late


def test_pre_job_event_can_cancel_and_post_job_event_is_signed(
    client: TestClient, shop_db: Path, tmp_path: Path, receiver: Receiver
) -> None:
    hook = {"url": receiver.url, "secret": SECRET}
    job = make_job(client, shop_db, tmp_path, pre_job_event=hook, post_job_event=hook)
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["pre_job_event"]["secret"] == "***"
    run = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True}).json()
    assert run["status"] == "completed"
    deadline = time.monotonic() + 15
    while len(receiver.events) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    (pre_headers, pre_body), (post_headers, post_body) = receiver.events[:2]
    assert verify(SECRET, pre_headers, pre_body) and verify(SECRET, post_headers, post_body)
    assert not verify("whsec_d3Jvbmc=", post_headers, post_body)
    post = json.loads(post_body)
    assert post["type"] == "job.finished" and post["data"]["run"]["status"] == "completed"
    assert post["data"]["stats"]["rows_written"] == 1000
    receiver.answer = {"cancel": True, "reason": "maintenance window"}
    canceled = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True}).json()
    assert canceled["status"] == "canceled"
    logs = client.get(f"/api/v1/runs/{canceled['id']}/logs").json()["items"]
    assert any("maintenance window" in line["message"] for line in logs)


def test_a_failed_event_receiver_is_retried(receiver: Receiver) -> None:
    from conveyor.webhooks import deliver

    receiver.fail_first = 2
    listed = Reach(private_network=False, allowed_hosts=("127.0.0.1",))
    response = deliver(receiver.url, "job.finished", {"x": 1}, SECRET, backoff=0.05, reach=listed)
    assert response.status_code == 200 and len(receiver.events) == 1
