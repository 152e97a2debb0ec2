"""What a job's schedule shows and when it fires (issue 17)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient

from tests.integration.test_api import make_job


def test_a_job_shows_when_its_schedule_fires_next(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path, schedule={"enabled": True, "cron": "0 3 * * *"})
    shown = dt.datetime.fromisoformat(job["next_run_at"].replace("Z", "+00:00"))
    now = dt.datetime.now(dt.UTC)
    assert (shown.hour, shown.minute, shown.second) == (3, 0, 0)
    assert now < shown <= now + dt.timedelta(days=1)
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["next_run_at"] == job["next_run_at"]


def test_a_disabled_schedule_shows_no_next_run(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path, schedule={"enabled": False, "cron": "0 3 * * *"})
    assert job["next_run_at"] is None
    listed = client.get("/api/v1/jobs").json()["items"]
    assert [j["next_run_at"] for j in listed] == [None]
