"""What the facades offered before the native API did, now native: retrying a run, picking
tasks by id, table or statement and a format per run, a job's logs since a time, the
tables a job does not copy yet, and the export formats."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.runtime import Runtime
from tests.exports_support import export_job, is_problem, wait_run
from tests.integration.test_api import make_job, wait_final

QUERIES = [
    "REPLICATE [orders]",
    "REPLICATE [big] SELECT * FROM [orders] WHERE total > 1000",
    "REPLICATE [small] SELECT * FROM [orders] WHERE total < 10",
]


@pytest.fixture
def idle(runtime: Runtime, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """The app without workers: a run started stays pending."""
    with TestClient(create_app(runtime, workers=False), headers=admin_headers) as client:
        yield client


def token_of(client: TestClient, name: str, role: str) -> dict[str, str]:
    user = client.post("/api/v1/users", json={"name": name, "role": role}).json()
    token = client.post(f"/api/v1/users/{user['id']}/tokens", json={}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_failed_run_is_retried_with_its_tasks(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path)
    added = client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [missing]"})
    assert added.status_code == 201, added.text
    started = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"tasks": ["missing"]})
    failed = wait_final(client, started.json()["id"])
    assert failed["status"] == "error", failed
    retried = client.post(f"/api/v1/runs/{failed['id']}/retry")
    assert retried.status_code == 201, retried.text
    new = retried.json()
    assert retried.headers["location"] == f"/api/v1/runs/{new['id']}"
    assert new["id"] != failed["id"] and new["trigger_method"] == "retry"
    assert [t["task_id"] for t in new["tasks"]] == [added.json()["id"]]
    assert wait_final(client, new["id"])["status"] == "error"
    done = client.post(
        f"/api/v1/jobs/{job['id']}/execute", json={"tasks": ["orders"], "wait": True, "timeout": 60}
    )
    assert done.json()["status"] == "completed"
    is_problem(client.post(f"/api/v1/runs/{done.json()['id']}/retry"), 409)
    is_problem(client.post("/api/v1/runs/nope/retry"), 404)
    viewer = TestClient(client.app, headers=token_of(client, "vic", "viewer"))
    is_problem(viewer.post(f"/api/v1/runs/{failed['id']}/retry"), 403)


def test_an_active_run_is_not_retried_and_a_canceled_one_is(
    idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(idle, shop_db, tmp_path, priority=5)
    run = idle.post(f"/api/v1/jobs/{job['id']}/execute", json={"job_type": "full"}).json()
    assert (
        "only failed or canceled"
        in is_problem(idle.post(f"/api/v1/runs/{run['id']}/retry"), 409)["detail"]
    )
    assert idle.post(f"/api/v1/runs/{run['id']}/cancel").json()["status"] == "canceled"
    again = idle.post(f"/api/v1/runs/{run['id']}/retry").json()
    assert (again["job_type"], again["priority"], again["status"]) == ("full", 5, "pending")


def test_tasks_are_picked_by_id_table_or_statement(
    idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(idle, shop_db, tmp_path, queries=QUERIES)
    tasks = idle.get(f"/api/v1/jobs/{job['id']}/tasks").json()["items"]
    ids = {t["table"]: t["id"] for t in tasks}
    run = idle.post(
        f"/api/v1/jobs/{job['id']}/execute",
        json={"tasks": ["BIG", "replicate   [orders]", ids["big"]]},
    )
    assert run.status_code == 202, run.text
    assert {t["task_id"] for t in run.json()["tasks"]} == {ids["big"], ids["orders"]}
    idle.post(f"/api/v1/runs/{run.json()['id']}/cancel")
    by_id = idle.post(f"/api/v1/jobs/{job['id']}/execute", json={"tasks": [ids["small"]]}).json()
    assert [t["table"] for t in by_id["tasks"]] == ["small"]
    idle.post(f"/api/v1/runs/{by_id['id']}/cancel")
    unknown = is_problem(
        idle.post(f"/api/v1/jobs/{job['id']}/execute", json={"tasks": ["REPLICATE [zzz]"]}), 422
    )
    assert unknown["field"] == "tasks" and "REPLICATE [zzz]" in unknown["detail"]


def test_a_run_writes_the_format_asked_for(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = export_job(client, f"sqlite:///{shop_db}", "csv", ["REPLICATE [orders]"])
    started = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"format": "parquet"})
    assert started.status_code == 202, started.text
    assert wait_run(client, started.json()["id"])["status"] == "completed"
    files = client.get(f"/api/v1/runs/{started.json()['id']}/files").json()["items"]
    assert [f["filename"] for f in files] == ["orders.parquet"]
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["export_format"] == "csv"
    is_problem(client.post(f"/api/v1/jobs/{job['id']}/execute", json={"format": "audio"}), 422)
    copying = make_job(client, shop_db, tmp_path)
    refused = client.post(f"/api/v1/jobs/{copying['id']}/execute", json={"format": "csv"})
    assert is_problem(refused, 422)["field"] == "format"


def test_a_jobs_logs_since_a_time(client: TestClient, shop_db: Path, tmp_path: Path) -> None:
    job = make_job(client, shop_db, tmp_path)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    runs = [
        client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 60}).json()
        for _ in range(2)
    ]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs").json()
    assert {line["run_id"] for line in logs["items"]} == {r["id"] for r in runs}
    assert [line["id"] for line in logs["items"]] == sorted(line["id"] for line in logs["items"])
    assert any("1,000 rows" in line["message"] for line in logs["items"])
    since = client.get(f"/api/v1/jobs/{job['id']}/logs", params={"since": before.isoformat()})
    assert since.json()["total"] == logs["total"]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    assert (
        client.get(f"/api/v1/jobs/{job['id']}/logs", params={"since": later}).json()["total"] == 0
    )
    one = client.get(f"/api/v1/jobs/{job['id']}/logs", params={"run_id": runs[1]["id"]}).json()
    assert one["total"] == client.get(f"/api/v1/runs/{runs[1]['id']}/logs").json()["total"]
    is_problem(client.get(f"/api/v1/jobs/{job['id']}/logs", params={"since": "yesterday"}), 422)
    is_problem(client.get(f"/api/v1/jobs/{job['id']}/logs", params={"colour": "red"}), 422)
    is_problem(client.get("/api/v1/jobs/nope/logs"), 404)


def test_tables_to_add_are_the_sources_tables_no_task_copies(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    with sqlite3.connect(shop_db) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    job = make_job(client, shop_db, tmp_path)
    listed = client.get(f"/api/v1/jobs/{job['id']}/tables-to-add")
    assert listed.status_code == 200, listed.text
    assert [t["name"] for t in listed.json()["items"]] == ["customers"]
    assert listed.json()["total"] == 1
    client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE ALL"})
    assert client.get(f"/api/v1/jobs/{job['id']}/tables-to-add").json()["items"] == []
    is_problem(
        client.get(f"/api/v1/jobs/{job['id']}/tables-to-add", params={"connection_id": "nope"}),
        404,
    )


def test_export_formats_by_modality(client: TestClient) -> None:
    every = client.get("/api/v1/files/formats").json()
    names = {f["name"]: f for f in every["items"]}
    assert set(names) == {"csv", "xlsx", "json", "ndjson", "parquet"} and every["total"] == 5
    assert names["parquet"] == {
        "name": "parquet",
        "extension": ".parquet",
        "mime_type": "application/vnd.apache.parquet",
        "modalities": ["nested", "tabular", "typed"],
    }

    def named(**params: Any) -> list[str]:
        return sorted(
            f["name"] for f in client.get("/api/v1/files/formats", params=params).json()["items"]
        )

    assert named(modalities="nested,typed") == ["parquet"]
    assert named(modalities=["spreadsheet", "tabular"]) == ["csv", "xlsx"]
    assert (
        "audio" in is_problem(client.get("/api/v1/files/formats?modalities=audio"), 422)["detail"]
    )


def test_the_new_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in (
        ("/api/v1/runs/{run_id}/retry", "post"),
        ("/api/v1/jobs/{job_id}/logs", "get"),
        ("/api/v1/jobs/{job_id}/tables-to-add", "get"),
        ("/api/v1/files/formats", "get"),
    ):
        assert method in paths[path], path
    execute = client.get("/openapi.json").json()["components"]["schemas"]["ExecuteRequest"]
    assert {"tasks", "format"} <= set(execute["properties"])
