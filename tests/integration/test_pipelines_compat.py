"""Pipelines seen from CData v2 (`Pipeline Id` on jobs) and migration 0018 (issue 20)."""

from __future__ import annotations

import time

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.store import migrate
from tests.integration.migrations import differences_from_models
from tests.integration.test_cdata_v1 import odata_error
from tests.integration.test_cdata_v2 import V2, conns, create, v2

__all__ = ["conns", "v2"]  # fixtures, used by name


def test_cdata_v2_pipeline_id_names_a_real_pipeline(
    v2: TestClient, client: TestClient, conns: dict[str, str]
) -> None:
    pipeline = client.post("/api/v1/pipelines", json={"name": "nightly"}).json()
    first = create(v2, conns, Name="first", **{"Pipeline Id": "nightly"})  # by name
    second = create(v2, conns, Name="second", **{"Pipeline Id": pipeline["id"]})  # by id
    assert first["pipeline_id"] == second["pipeline_id"] == pipeline["id"]
    assert v2.get(f"{V2}/jobs/{first['id']}").json()["pipeline_id"] == pipeline["id"]
    shown = client.get(f"/api/v1/pipelines/{pipeline['id']}").json()
    assert [s["job_name"] for s in shown["steps"]] == ["first", "second"]
    bad = v2.post(
        f"{V2}/workspaces/default/jobs",
        json={
            "Name": "third",
            "Source-Connection": {"Id": conns["shop"]},
            "Destination-Connection": {"Name": "lake"},
            "Pipeline Id": "nope",
        },
    )
    assert "pipeline nope not found" in odata_error(bad, 400)["message"]
    renamed = v2.put(f"{V2}/jobs/{second['id']}", json={"Pipeline Id": "missing"})
    odata_error(renamed, 400)
    cleared = v2.put(f"{V2}/jobs/{second['id']}", json={"Pipeline Id": ""})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["pipeline_id"] in (None, "")
    shown = client.get(f"/api/v1/pipelines/{pipeline['id']}").json()
    assert [s["job_name"] for s in shown["steps"]] == ["first"]
    # A pipeline's run is the job's run too: CData's history and status show it.
    started = client.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()
    deadline = time.monotonic() + 60
    while (run := client.get(f"/api/v1/pipeline-runs/{started['id']}").json())[
        "status"
    ] == "in_progress":
        assert time.monotonic() < deadline, run
        time.sleep(0.1)
    assert run["status"] == "completed", run
    history = v2.get(f"{V2}/jobs/{first['id']}/history").json()
    assert history["value"][0]["id"] == run["steps"][0]["run_id"]
    assert v2.get(f"{V2}/jobs/{first['id']}/status").json()["status"] == "SUCCESS"


def test_migration_0018_turns_stored_pipeline_ids_into_pipelines(
    store_settings: Settings,
) -> None:
    runtime = Runtime.create(store_settings)
    try:
        config = migrate._config(runtime.engine)
        with runtime.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0017")
        with runtime.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO workspaces (id, name, allowed_paths, created_at, updated_at) "
                     "VALUES ('w1', 'w1', '[]', '2024-01-01', '2024-01-01')")
            )  # fmt: skip
            for job_id, name, pipeline in (
                ("j1", "b-job", "pipe-1"),
                ("j2", "a-job", "pipe-1"),
                ("j3", "c-job", None),
                ("j4", "d-job", ""),
            ):
                connection.execute(
                    text(
                        "INSERT INTO jobs (id, workspace_id, name, type, settings, notifications,"
                        " schedule_enabled, schedule_cron, labels, pipeline_id, max_attempts,"
                        " priority, events_admin_configured, created_at, updated_at) VALUES"
                        " (:id, 'w1', :name, 'standard', '{}', '{}', false, '', '[]', :pipeline,"
                        " 1, 0, false, '2024-01-01', '2024-01-01')"
                    ),
                    {"id": job_id, "name": name, "pipeline": pipeline},
                )
        migrate.upgrade(runtime.engine)
        with runtime.engine.connect() as connection:
            pipelines = connection.execute(text("SELECT id, name, steps FROM pipelines")).all()
            jobs = dict(connection.execute(text("SELECT id, pipeline_id FROM jobs")).all())
        assert len(pipelines) == 1 and pipelines[0][1] == "pipe-1"
        steps = pipelines[0][2]
        steps = steps if isinstance(steps, list) else __import__("json").loads(steps)
        assert [s["job_id"] for s in steps] == ["j2", "j1"]  # in name order
        assert jobs == {"j1": pipelines[0][0], "j2": pipelines[0][0], "j3": None, "j4": None}
        assert differences_from_models(runtime.engine, "pipeline") == []
        with runtime.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0017")
        tables = inspect(runtime.engine).get_table_names()
        assert "pipelines" not in tables and "pipeline_runs" not in tables
        assert "pipeline_run_id" not in {
            c["name"] for c in inspect(runtime.engine).get_columns("runs")
        }
        migrate.upgrade(runtime.engine)
        assert migrate.is_current(runtime.engine)
    finally:
        runtime.close()
