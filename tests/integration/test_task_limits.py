"""A job holds at most `MAX_TASKS_PER_JOB` tasks, on every path that adds them."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from conveyor.domain import MAX_TASKS_PER_JOB
from tests.integration.test_api import make_job

PROBLEM = "application/problem+json"


def statements(count: int) -> list[str]:
    return [f"REPLICATE [orders_{i}] SELECT * FROM [orders]" for i in range(count)]


def test_a_job_with_the_most_tasks_is_created_in_order(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path, queries=statements(MAX_TASKS_PER_JOB))
    items = client.get(f"/api/v1/jobs/{job['id']}/tasks").json()["items"]
    assert len(items) == MAX_TASKS_PER_JOB
    assert [t["index"] for t in items] == list(range(MAX_TASKS_PER_JOB))
    assert items[-1]["table"] == f"orders_{MAX_TASKS_PER_JOB - 1}"


def test_one_task_more_than_the_most_is_a_422_naming_queries(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path)
    body = {**{k: job[k] for k in ("source_connection_id", "destination_connection_id")}}
    answer = client.post(
        "/api/v1/jobs",
        json={"name": "too-many", **body, "queries": statements(MAX_TASKS_PER_JOB + 1)},
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert "queries" in answer.text
    assert client.get("/api/v1/jobs", params={"name": "too-many"}).json()["total"] == 0


def test_adding_a_task_to_a_full_job_is_a_422_and_changes_nothing(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path, queries=statements(MAX_TASKS_PER_JOB))
    answer = client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [orders]"})
    assert answer.status_code == 422, answer.text
    assert str(MAX_TASKS_PER_JOB) in answer.json()["detail"]
    items = client.get(f"/api/v1/jobs/{job['id']}/tasks").json()["items"]
    assert len(items) == MAX_TASKS_PER_JOB
