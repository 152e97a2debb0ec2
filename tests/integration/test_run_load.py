"""How a run loads is `load` (full | incremental): in the store (migration 0008), in the
API — where the earlier name, `job_type`, stays a deprecated alias in and out — and in
the runs list's filters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.store import migrate
from tests.exports_support import is_problem
from tests.integration.migrations import differences_from_models
from tests.integration.test_api import make_job


@pytest.fixture
def idle(runtime: Runtime, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """The app without workers: a run started stays pending."""
    with TestClient(create_app(runtime, workers=False), headers=admin_headers) as client:
        yield client


def test_load_and_its_alias_start_runs_and_show_alike(
    idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(idle, shop_db, tmp_path)
    execute = f"/api/v1/jobs/{job['id']}/execute"
    shown = []
    for body in ({"load": "full"}, {"job_type": "full"}, {"load": "full", "job_type": "full"}, {}):
        started = idle.post(execute, json=body)
        assert started.status_code == 202, started.text
        run = started.json()
        shown.append((run["load"], run["job_type"]))
        assert idle.post(f"/api/v1/runs/{run['id']}/cancel").json()["status"] == "canceled"
    assert shown == [("full", "full")] * 3 + [("incremental", "incremental")]
    listed = idle.get("/api/v1/runs", params={"job_id": job["id"], "load": "full"}).json()
    assert listed["total"] == 3, listed
    by_alias = idle.get("/api/v1/runs", params={"job_id": job["id"], "job_type": "incremental"})
    assert [r["load"] for r in by_alias.json()["items"]] == ["incremental"]


def test_load_and_a_different_alias_are_refused_naming_the_alias(
    idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(idle, shop_db, tmp_path)
    execute = f"/api/v1/jobs/{job['id']}/execute"
    problem = is_problem(idle.post(execute, json={"load": "full", "job_type": "incremental"}), 422)
    assert "job_type" in problem["detail"]
    assert idle.get("/api/v1/runs", params={"job_id": job["id"]}).json()["total"] == 0
    is_problem(idle.post(execute, json={"load": "partial"}), 422)


def test_the_alias_is_documented_as_deprecated(idle: TestClient) -> None:
    schemas = idle.get("/openapi.json").json()["components"]["schemas"]
    for name in ("ExecuteRequest", "RunOut"):
        properties = schemas[name]["properties"]
        assert "load" in properties and not properties["load"].get("deprecated"), name
        assert properties["job_type"]["deprecated"] is True, name


def test_migration_0008_renames_the_column_and_keeps_every_run(
    store_settings: Settings, shop_db: Path, tmp_path: Path, admin_headers: dict[str, str]
) -> None:
    runtime = Runtime.create(store_settings)
    try:
        runtime.migrate()
        runtime.bootstrap()
        app = create_app(runtime, workers=False)
        with TestClient(app, headers=admin_headers) as client:
            job = make_job(client, shop_db, tmp_path)
            run = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"load": "full"}).json()
        with runtime.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO run_logs (run_id, ts, level, message) "
                    "VALUES (:run, CURRENT_TIMESTAMP, 'info', 'kept')"
                ),
                {"run": run["id"]},
            )
        kept = "SELECT (SELECT count(*) FROM run_logs), (SELECT count(*) FROM run_tasks)"

        def counts() -> tuple[int, int]:
            with runtime.engine.connect() as connection:
                return tuple(connection.execute(text(kept)).one())  # type: ignore[return-value]

        before = counts()
        assert before[0] >= 1 and before[1] == 1
        config = migrate._config(runtime.engine)
        with runtime.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0007")
        assert migrate.current_revision(runtime.engine) == "0007"
        columns = {c["name"] for c in inspect(runtime.engine).get_columns("runs")}
        assert "job_type" in columns and "load" not in columns
        with runtime.engine.connect() as connection:
            assert connection.scalar(text("SELECT job_type FROM runs")) == "full"
        assert counts() == before

        migrate.upgrade(runtime.engine)
        assert migrate.is_current(runtime.engine)
        with runtime.engine.connect() as connection:
            assert connection.scalar(text("SELECT load FROM runs")) == "full"
        assert counts() == before
        indexes = {i["name"] for i in inspect(runtime.engine).get_indexes("runs")}
        assert "uq_runs_active_unicity" in indexes
    finally:
        runtime.close()


def test_the_runs_table_matches_the_model(store_settings: Settings) -> None:
    runtime = Runtime.create(store_settings)
    try:
        migrate.upgrade(runtime.engine)
        differences = differences_from_models(runtime.engine, "'runs'")
        assert differences == []
    finally:
        runtime.close()
