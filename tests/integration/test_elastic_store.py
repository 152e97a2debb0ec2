"""The Elastic and JSON:API facades' queries on each metadata store (SQLite, PostgreSQL):
JSON documents, coalesced filters, NULL ordering, escaped LIKE, and the sweeper."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from conveyor.domain import utcnow
from conveyor.runtime import Runtime


def _connector(client: TestClient, connector_id: str, **fields: object) -> None:
    body = {"service_type": "custom", "name": connector_id, **fields}
    assert client.put(f"/_connector/{connector_id}", json=body).status_code == 201


def test_connectors_and_sync_jobs_on_each_store(client: TestClient, runtime: Runtime) -> None:
    _connector(client, "b-conn", index_name="idx_b", description="100% sure")
    _connector(client, "a-conn", index_name="idx_a")
    _connector(client, "no-index")
    listed = client.get("/_connector").json()
    assert [c["id"] for c in listed["results"]] == ["a-conn", "b-conn", "no-index"]
    assert client.get("/_connector", params={"query": "100%"}).json()["count"] == 1
    assert client.get("/_connector", params={"query": "x_y"}).json()["count"] == 0

    jobs = [
        client.post("/_connector/_sync_job", json={"id": "a-conn", "job_type": kind}).json()["id"]
        for kind in ("full", "access_control", "incremental")
    ]
    by_type = client.get(
        "/_connector/_sync_job", params={"connector_id": "a-conn", "job_type": "access_control"}
    ).json()
    assert [j["id"] for j in by_type["results"]] == [jobs[1]]
    assert by_type["results"][0]["job_type"] == "access_control"

    claim = {"worker_hostname": "w1", "sync_cursor": {"since": 3}}
    assert client.put(f"/_connector/_sync_job/{jobs[0]}/_claim", json=claim).status_code == 200
    stats = {"deleted_document_count": 1, "indexed_document_count": 9, "indexed_document_volume": 1}
    assert client.put(f"/_connector/_sync_job/{jobs[0]}/_stats", json=stats).status_code == 200
    client.put(f"/_connector/_sync_job/{jobs[2]}/_claim", json={"worker_hostname": "w2"})
    client.put(f"/_connector/_sync_job/{jobs[2]}/_cancel")

    # Conveyor's own workers never claim external jobs; the sweeper fails silent ones.
    assert runtime.queue.claim("test-worker", "here") is None
    later = utcnow() + dt.timedelta(seconds=5)
    assert runtime.queue.sweep(later) == []  # without an external deadline they are left
    assert set(runtime.queue.sweep(later, later)) == {jobs[0], jobs[2]}
    swept = client.get(f"/_connector/_sync_job/{jobs[0]}").json()
    assert swept["status"] == "error" and swept["indexed_document_count"] == 9
    assert client.get(f"/_connector/_sync_job/{jobs[2]}").json()["status"] == "canceled"

    params = {"filter[job_class]": "connector_sync", "filter[status__in]": "error,canceled"}
    body = client.get(
        "/sync/jobs", params={**params, "count": "true", "sort": "-created_at"}
    ).json()
    assert [d["id"] for d in body["data"]] == [jobs[2], jobs[0]] and body["meta"]["count"] == 2
    since = body["data"][1]["attributes"]["created_at"]
    recent = client.get("/sync/jobs", params={"filter[created_at__gte]": since}).json()
    assert {d["id"] for d in recent["data"]} == set(jobs)

    assert client.delete("/_connector/a-conn", params={"hard": "true"}).status_code == 200
    orphan = client.get(f"/_connector/_sync_job/{jobs[1]}").json()
    assert orphan["connector"]["id"] == "a-conn"


def test_conveyor_connector_wiring_seals_urls_and_maps_schedules(client: TestClient) -> None:
    body = {"service_type": "postgresql", "index_name": "orders"}
    assert client.put("/_connector/pg-conn", json=body).status_code == 201
    secret_url = "postgresql://loader:s3cret@127.0.0.1:5432/shop"
    values = {"source": secret_url, "destination": "duckdb:///tmp/lake.duckdb"}
    assert (
        client.put("/_connector/pg-conn/_configuration", json={"values": values}).status_code == 200
    )
    doc = client.get("/_connector/pg-conn").json()
    shown = doc["configuration"]["source"]["value"]
    assert "s3cret" not in client.get("/_connector/pg-conn").text
    assert shown == "postgresql://loader:***@127.0.0.1:5432/shop"
    job = client.get("/api/v1/jobs/pg-conn").json()
    source = client.get(f"/api/v1/connections/{job['source_connection_id']}").json()
    assert source["url"] == shown and source["name"] == "elastic-pg-conn-source"
    tasks = client.get("/api/v1/jobs/pg-conn/tasks").json()["items"]
    assert [t["query"] for t in tasks] == ["REPLICATE [orders]"]

    again = {"values": {"source": shown}}  # the masked URL keeps the sealed password
    assert client.put("/_connector/pg-conn/_configuration", json=again).status_code == 200
    assert client.get("/api/v1/jobs/pg-conn").json()["source_connection_id"] == source["id"]

    schedule = {"scheduling": {"full": {"enabled": True, "interval": "0 0 3 * * ?"}}}
    assert client.put("/_connector/pg-conn/_scheduling", json=schedule).status_code == 200
    assert client.get("/api/v1/jobs/pg-conn").json()["schedule"] == {
        "enabled": True,
        "cron": "0 3 * * *",
    }

    mismatch = {"values": {"source": "sqlite:///tmp/x.db"}}
    refused = client.put("/_connector/pg-conn/_configuration", json=mismatch)
    assert refused.status_code == 400 and "service_type" in refused.json()["error"]["reason"]

    assert (
        client.put("/_connector/pg-conn/_service_type", json={"service_type": "jira"}).status_code
        == 200
    )
    job = client.get("/api/v1/jobs/pg-conn").json()
    assert job["source_connection_id"] is None and job["schedule"]["enabled"] is False
    assert client.get("/api/v1/jobs/pg-conn/tasks").json()["items"] == []
