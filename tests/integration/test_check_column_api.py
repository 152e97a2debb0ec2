"""A check column that cannot order changes is refused when the task is saved (issue 17).

The job's source is asked for the statement's columns (with no store transaction open,
issue 16); a first candidate of a type that cannot order changes answers 422
problem+json naming the field, the column, its type and why. A source that cannot be
described (the table is not there yet) does not stop the save: runs check again.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


@pytest.fixture
def job(client: TestClient, tmp_path: Path) -> dict[str, Any]:
    """A job reading a SQLite `events` table whose columns have several types."""
    path = tmp_path / "events.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, flag BOOLEAN, payload BLOB, updated_at TEXT)"
    )
    db.commit()
    db.close()
    ids = []
    for name, url in (("events", f"sqlite:///{path}"), ("lake", f"duckdb:///{tmp_path}/l.db")):
        made = client.post("/api/v1/connections", json={"name": name, "url": url})
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    created = client.post(
        "/api/v1/jobs",
        json={
            "name": "events",
            "source_connection_id": ids[0],
            "destination_connection_id": ids[1],
        },
    )
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def refused(answer: Any, column: str, shown: str, why: str, field: str = "query") -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    problem = answer.json()
    assert problem["field"] == field
    detail = problem["detail"]
    assert f"check column {column!r} is {shown}, which cannot order changes" in detail, detail
    assert why in detail and "ISO-8601 text" in detail


@pytest.mark.parametrize(
    ("query", "column", "shown", "why"),
    [
        ("WITH IncrementalCheckColumns='flag,updated_at'", "flag", "boolean", "two values"),
        ("WITH IncrementalCheckColumns='payload,updated_at'", "payload", "blob", "bytes do not"),
        # an alias is vetted by the column it reads
        (
            "WITH IncrementalCheckColumns='changed' SELECT id, flag AS changed FROM [events]",
            "changed",
            "boolean",
            "two values",
        ),
    ],
)
def test_adding_a_task_with_an_unusable_check_column_is_refused(
    client: TestClient, job: dict[str, Any], query: str, column: str, shown: str, why: str
) -> None:
    query = f"REPLICATE [events] {query}"
    answer = client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": query})
    refused(answer, column, shown, why)
    assert client.get(f"/api/v1/jobs/{job['id']}/tasks").json()["total"] == 0


@pytest.mark.parametrize(
    "query",
    [
        # the first column found is text: usable
        "REPLICATE [events] WITH IncrementalCheckColumns='missing,updated_at,flag'",
        # `changed` is typed only when it runs: left to the runs
        "REPLICATE [events] WITH IncrementalCheckColumns='changed,flag'"
        " SELECT id, flag, updated_at || '' AS changed FROM [events]",
        # the table is not there yet: runs check again
        "REPLICATE [later] WITH IncrementalCheckColumns='flag'",
    ],
)
def test_a_task_whose_check_column_may_order_changes_is_saved(
    client: TestClient, job: dict[str, Any], query: str
) -> None:
    answer = client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": query})
    assert answer.status_code == 201, answer.text


def test_changing_a_task_to_an_unusable_check_column_is_refused(
    client: TestClient, job: dict[str, Any]
) -> None:
    tasks = f"/api/v1/jobs/{job['id']}/tasks"
    task = client.post(tasks, json={"query": "REPLICATE [events]"}).json()
    query = "REPLICATE [events] WITH IncrementalCheckColumns='flag'"
    refused(client.patch(f"{tasks}/{task['id']}", json={"query": query}), "flag", "boolean", "")
    assert client.get(f"{tasks}/{task['id']}").json()["query"] == "REPLICATE [events]"


def test_the_jobs_own_check_columns_are_vetted_too(client: TestClient, job: dict[str, Any]) -> None:
    changed = client.patch(
        f"/api/v1/jobs/{job['id']}", json={"incremental_check_columns": ["flag"]}
    )
    assert changed.status_code == 200, changed.text
    answer = client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [events]"})
    refused(answer, "flag", "boolean", "two values")


def test_replicate_interval_on_a_text_check_column_is_refused(
    client: TestClient, job: dict[str, Any]
) -> None:
    query = (
        "REPLICATE [events] WITH IncrementalCheckColumns='updated_at', ReplicateInterval=1,"
        " ReplicateIntervalUnit='days'"
    )
    answer = client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": query})
    assert answer.status_code == 422, answer.text
    assert "ReplicateInterval" in answer.json()["detail"]


def test_a_new_jobs_queries_are_vetted(client: TestClient, job: dict[str, Any]) -> None:
    body = {
        "name": "events-again",
        "source_connection_id": job["source_connection_id"],
        "destination_connection_id": job["destination_connection_id"],
        "queries": [
            "REPLICATE [events] WITH IncrementalCheckColumns='updated_at'",
            "REPLICATE [copy] WITH IncrementalCheckColumns='payload' SELECT * FROM [events]",
        ],
    }
    answer = client.post("/api/v1/jobs", json=body)
    refused(answer, "payload", "blob", "bytes", field="queries[1]")
    assert client.get("/api/v1/jobs", params={"name": "events-again"}).json()["total"] == 0
    body["queries"] = body["queries"][:1]
    assert client.post("/api/v1/jobs", json=body).status_code == 201
