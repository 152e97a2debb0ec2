"""What a job's schedule shows and when it fires (issue 17)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.scheduler.cron import Scheduler, latest_fire
from conveyor.store import migrate
from conveyor.store.models import Job, Transformation
from tests.integration.migrations import differences_from_models
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


def _due(runtime: Runtime, now: dt.datetime) -> list[str]:
    scheduler = Scheduler(runtime.factory, lambda *a: "run-id")
    with runtime.unit() as ctx:
        return [item.target_id for item in scheduler.due(ctx.session, now)]


def _backdate(runtime: Runtime, model: type[Job] | type[Transformation], target_id: str) -> None:
    """As if the row had been created long ago (what the scheduler used to compare with)."""
    with runtime.unit() as ctx:
        ctx.session.get(model, target_id).created_at = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def test_enabling_a_schedule_never_fires_a_tick_that_already_passed(
    runtime: Runtime, client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path, schedule={"enabled": False, "cron": "* * * * *"})
    _backdate(runtime, Job, job["id"])
    enabled = client.patch(
        f"/api/v1/jobs/{job['id']}", json={"schedule": {"enabled": True, "cron": "* * * * *"}}
    ).json()
    now = dt.datetime.now(dt.UTC)
    assert job["id"] not in _due(runtime, now)  # this minute's tick passed before enabling
    next_tick = latest_fire("* * * * *", now) + dt.timedelta(minutes=1)
    shown = dt.datetime.fromisoformat(enabled["next_run_at"].replace("Z", "+00:00"))
    assert shown == next_tick
    assert job["id"] in _due(runtime, next_tick + dt.timedelta(seconds=2))


def test_changing_the_cron_never_fires_a_tick_that_already_passed(
    runtime: Runtime, client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path, schedule={"enabled": True, "cron": "0 3 1 1 *"})
    _backdate(runtime, Job, job["id"])
    client.patch(
        f"/api/v1/jobs/{job['id']}", json={"schedule": {"enabled": True, "cron": "* * * * *"}}
    )
    assert job["id"] not in _due(runtime, dt.datetime.now(dt.UTC))
    # an unrelated change keeps the schedule's start: the next tick fires as planned
    client.patch(f"/api/v1/jobs/{job['id']}", json={"priority": 3})
    next_tick = latest_fire("* * * * *", dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=1)
    assert job["id"] in _due(runtime, next_tick)


def test_scheduling_a_transformation_never_fires_a_tick_that_already_passed(
    runtime: Runtime, client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path)
    created = client.post(
        "/api/v1/transformations",
        json={
            "name": "later",
            "connection_id": job["destination_connection_id"],
            "queries": ["SELECT 1"],
        },
    )
    assert created.status_code == 201, created.text
    item = created.json()
    _backdate(runtime, Transformation, item["id"])
    changed = client.patch(
        f"/api/v1/transformations/{item['id']}",
        json={"trigger_mode": "scheduled", "schedule_cron": "* * * * *"},
    )
    assert changed.status_code == 200, changed.text
    now = dt.datetime.now(dt.UTC)
    assert item["id"] not in _due(runtime, now)
    assert item["id"] in _due(runtime, latest_fire("* * * * *", now) + dt.timedelta(minutes=1))


def test_migration_0010_adds_schedule_since_and_keeps_every_run(
    store_settings: Settings, shop_db: Path, tmp_path: Path, admin_headers: dict[str, str]
) -> None:
    runtime = Runtime.create(store_settings)
    try:
        runtime.migrate()
        runtime.bootstrap()
        with TestClient(create_app(runtime, workers=False), headers=admin_headers) as client:
            job = make_job(client, shop_db, tmp_path)
            client.post(f"/api/v1/jobs/{job['id']}/execute", json={"load": "full"})
        runs = "SELECT count(*) FROM runs"
        with runtime.engine.connect() as connection:
            assert connection.scalar(text(runs)) == 1
        config = migrate._config(runtime.engine)
        with runtime.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0009")
        for table in ("jobs", "transformations"):
            columns = {c["name"] for c in inspect(runtime.engine).get_columns(table)}
            assert "schedule_since" not in columns
        with runtime.engine.connect() as connection:
            assert connection.scalar(text(runs)) == 1

        migrate.upgrade(runtime.engine)
        assert migrate.is_current(runtime.engine)
        with runtime.engine.connect() as connection:
            assert connection.scalar(text(runs)) == 1
            since, created = connection.execute(
                text("SELECT schedule_since, created_at FROM jobs")
            ).one()
        assert since is not None and since == created  # older rows: their creation time
        differences = differences_from_models(runtime.engine, "schedule_since")
        assert differences == []  # the columns match the model
    finally:
        runtime.close()
