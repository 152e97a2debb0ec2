"""Elastic's sync job API (`/_connector/_sync_job`) over HTTP against the real server:
listing, posting, the external worker's protocol, Conveyor-run connectors, the sweeper."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.elastic_support import (
    connector,
    error_of,
    server,
    source_db,
    sync_job,
    unique,
    wait_status,
)
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e

JOB_FIELDS = {
    "cancelation_requested_at",
    "canceled_at",
    "completed_at",
    "connector",
    "created_at",
    "deleted_document_count",
    "error",
    "id",
    "indexed_document_count",
    "indexed_document_volume",
    "job_type",
    "last_seen",
    "metadata",
    "started_at",
    "status",
    "total_document_count",
    "trigger_method",
    "worker_hostname",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server(tmp_path_factory.mktemp("elastic-sync-jobs")) as running:
        yield running


@pytest.fixture
def es(srv: Server) -> httpx.Client:
    return srv.client


def test_post_get_and_document(es: httpx.Client) -> None:
    cid = connector(es, language="en")
    response = es.post(
        "/_connector/_sync_job",
        json={"id": cid, "job_type": "incremental", "trigger_method": "scheduled"},
    )
    assert response.status_code == 201 and set(response.json()) == {"id"}
    doc = es.get(f"/_connector/_sync_job/{response.json()['id']}").json()
    assert set(doc) == JOB_FIELDS
    assert (doc["status"], doc["job_type"], doc["trigger_method"]) == (
        "pending",
        "incremental",
        "scheduled",
    )
    assert doc["connector"]["id"] == cid and doc["connector"]["language"] == "en"
    assert doc["connector"]["filtering"]["rules"][0]["id"] == "DEFAULT"
    assert doc["indexed_document_count"] == 0 and doc["metadata"] == {}
    assert doc["last_seen"] and doc["worker_hostname"] is None

    defaults = es.get(f"/_connector/_sync_job/{sync_job(es, cid)}").json()
    assert (defaults["job_type"], defaults["trigger_method"]) == ("full", "on_demand")


def test_list_ordering_counts_and_filters(es: httpx.Client) -> None:
    cid = connector(es)
    ids = [sync_job(es, cid, kind) for kind in ("full", "incremental", "access_control", "full")]
    listed = es.get("/_connector/_sync_job", params={"connector_id": cid}).json()
    assert listed["count"] == 4 and [j["id"] for j in listed["results"]] == ids  # oldest first
    page = es.get(
        "/_connector/_sync_job", params={"connector_id": cid, "from": 1, "size": 2}
    ).json()
    assert page["count"] == 4 and [j["id"] for j in page["results"]] == ids[1:3]
    by_type = es.get(
        "/_connector/_sync_job",
        params={"connector_id": cid, "job_type": "incremental,access_control"},
    ).json()
    assert [j["id"] for j in by_type["results"]] == ids[1:3]
    es.put(f"/_connector/_sync_job/{ids[0]}/_cancel")
    canceled = es.get(
        "/_connector/_sync_job", params={"connector_id": cid, "status": "canceled"}
    ).json()
    assert canceled["count"] == 1 and canceled["results"][0]["id"] == ids[0]
    pending = es.get(
        "/_connector/_sync_job", params={"status": "pending", "connector_id": cid}
    ).json()
    assert pending["count"] == 3
    everything = es.get("/_connector/_sync_job", params={"size": 1}).json()
    assert everything["count"] >= 4 and len(everything["results"]) == 1
    error_of(
        es.get("/_connector/_sync_job", params={"status": "sleeping"}),
        400,
        "illegal_argument_exception",
    )
    error_of(
        es.get("/_connector/_sync_job", params={"job_type": "partial"}),
        400,
        "illegal_argument_exception",
    )


def test_external_worker_claims_checks_in_reports_and_fails(es: httpx.Client) -> None:
    cid = connector(es)
    job = sync_job(es, cid)
    cursor = {"last_page": 3}
    claimed = es.put(
        f"/_connector/_sync_job/{job}/_claim",
        json={"worker_hostname": "worker-7", "sync_cursor": cursor},
    )
    assert claimed.json() == {"result": "updated"}
    doc = es.get(f"/_connector/_sync_job/{job}").json()
    assert (doc["status"], doc["worker_hostname"]) == ("in_progress", "worker-7")
    assert doc["started_at"] and doc["connector"]["sync_cursor"] == cursor
    seen = doc["last_seen"]
    time.sleep(0.01)
    assert es.put(f"/_connector/_sync_job/{job}/_check_in").json() == {"result": "updated"}
    assert es.get(f"/_connector/_sync_job/{job}").json()["last_seen"] > seen
    stats = {
        "deleted_document_count": 2,
        "indexed_document_count": 120,
        "indexed_document_volume": 3,
        "total_document_count": 500,
        "metadata": {"page": 4},
        "last_seen": "2030-01-01T00:00:00Z",
    }
    assert es.put(f"/_connector/_sync_job/{job}/_stats", json=stats).json() == {"result": "updated"}
    doc = es.get(f"/_connector/_sync_job/{job}").json()
    assert {k: doc[k] for k in stats if k != "last_seen"} == {
        k: v for k, v in stats.items() if k != "last_seen"
    }
    assert doc["last_seen"] == "2030-01-01T00:00:00.000Z"
    assert es.put(
        f"/_connector/_sync_job/{job}/_error", json={"error": "source went away"}
    ).json() == {"result": "updated"}
    doc = es.get(f"/_connector/_sync_job/{job}").json()
    assert (doc["status"], doc["error"]) == ("error", "source went away") and doc["completed_at"]

    run = es.get(f"/api/v1/runs/{job}").json()
    assert (run["status"], run["error"], run["job_id"]) == ("error", "source went away", cid)
    assert (run["stats"]["rows_written"], run["stats"]["rows_deleted"]) == (120, 2)
    jsonapi = es.get(f"/sync/jobs/{job}").json()["data"]["attributes"]
    assert (jsonapi["status"], jsonapi["job_class"]) == ("error", "connector_sync")
    assert jsonapi["stats"]["rows_written"] == 120


def test_cancel_and_illegal_transitions(es: httpx.Client) -> None:
    cid = connector(es)
    pending = sync_job(es, cid)
    assert es.put(f"/_connector/_sync_job/{pending}/_cancel").json() == {"result": "updated"}
    doc = es.get(f"/_connector/_sync_job/{pending}").json()
    assert doc["status"] == "canceled" and doc["canceled_at"] and doc["completed_at"]
    reason = error_of(es.put(f"/_connector/_sync_job/{pending}/_cancel"), 400, "status_exception")
    assert "canceled" in reason
    error_of(
        es.put(f"/_connector/_sync_job/{pending}/_claim", json={"worker_hostname": "w"}),
        400,
        "status_exception",
    )

    running = sync_job(es, cid)
    error_of(
        es.put(f"/_connector/_sync_job/{running}/_error", json={"error": "x"}),
        400,
        "status_exception",
    )
    es.put(f"/_connector/_sync_job/{running}/_claim", json={"worker_hostname": "w"})
    error_of(
        es.put(f"/_connector/_sync_job/{running}/_claim", json={"worker_hostname": "w2"}),
        400,
        "status_exception",
    )
    es.put(f"/_connector/_sync_job/{running}/_cancel")
    doc = es.get(f"/_connector/_sync_job/{running}").json()
    assert doc["status"] == "canceling" and doc["cancelation_requested_at"]
    assert es.delete(f"/_connector/_sync_job/{running}").json() == {"acknowledged": True}
    error_of(es.get(f"/_connector/_sync_job/{running}"), 404, "resource_not_found_exception")


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("DELETE", "", None),
        ("PUT", "/_cancel", None),
        ("PUT", "/_check_in", None),
        ("PUT", "/_claim", {"worker_hostname": "w"}),
        ("PUT", "/_error", {"error": "x"}),
        (
            "PUT",
            "/_stats",
            {
                "deleted_document_count": 0,
                "indexed_document_count": 0,
                "indexed_document_volume": 0,
            },
        ),
    ],
)
def test_missing_sync_job_is_404(es: httpx.Client, method: str, suffix: str, body: object) -> None:
    missing = unique("job")
    response = es.request(method, f"/_connector/_sync_job/{missing}{suffix}", json=body)
    assert f"[{missing}]" in error_of(response, 404, "resource_not_found_exception")


def test_post_refusals_and_malformed_bodies(es: httpx.Client) -> None:
    missing = unique("missing")
    reason = error_of(
        es.post("/_connector/_sync_job", json={"id": missing}), 404, "resource_not_found_exception"
    )
    assert reason == f"Connector with id '{missing}' does not exist."
    error_of(
        es.post("/_connector/_sync_job", json={"id": ""}),
        400,
        "action_request_validation_exception",
    )
    error_of(es.post("/_connector/_sync_job", json={}), 400, "x_content_parse_exception")
    error_of(
        es.post("/_connector/_sync_job", json={"id": "x", "job_type": "partial"}),
        400,
        "x_content_parse_exception",
    )
    error_of(
        es.post("/_connector/_sync_job", content=b"not json"), 400, "x_content_parse_exception"
    )
    error_of(es.post("/_connector/_sync_job"), 400, "parse_exception")
    no_index = connector(es, index_name=None)
    reason = error_of(
        es.post("/_connector/_sync_job", json={"id": no_index}), 400, "status_exception"
    )
    assert "with no index attached" in reason

    job = sync_job(es, connector(es))
    error_of(
        es.put(f"/_connector/_sync_job/{job}/_claim", json={}), 400, "x_content_parse_exception"
    )
    error_of(
        es.put(f"/_connector/_sync_job/{job}/_claim", json={"worker_hostname": "w", "x": 1}),
        400,
        "x_content_parse_exception",
    )
    negative = {
        "deleted_document_count": -1,
        "indexed_document_count": 0,
        "indexed_document_volume": 0,
    }
    error_of(
        es.put(f"/_connector/_sync_job/{job}/_stats", json=negative),
        400,
        "action_request_validation_exception",
    )
    error_of(
        es.put(f"/_connector/_sync_job/{job}/_error", json={"message": "x"}),
        400,
        "x_content_parse_exception",
    )
    error_of(es.get("/_connector/_sync_job/%20"), 400, "action_request_validation_exception")


def test_conveyor_service_type_runs_on_conveyors_workers(
    srv: Server, es: httpx.Client, tmp_path: Path
) -> None:
    source = source_db(tmp_path / "shop.db", rows=250)
    destination = tmp_path / "lake.db"
    cid = connector(es, "sqlite", index_name="orders_copy")
    doc = es.get(f"/_connector/{cid}").json()
    assert set(doc["configuration"]) == {"source", "destination", "source_table"}
    reason = error_of(es.post("/_connector/_sync_job", json={"id": cid}), 400, "status_exception")
    assert "configuration.source" in reason
    values = {
        "source": f"sqlite:///{source}",
        "destination": f"sqlite:///{destination}",
        "source_table": "orders",
    }
    assert es.put(f"/_connector/{cid}/_configuration", json={"values": values}).status_code == 200
    error_of(
        es.post("/_connector/_sync_job", json={"id": cid, "job_type": "access_control"}),
        400,
        "status_exception",
    )

    job = sync_job(es, cid)
    doc = wait_status(es, job, {"completed", "error"})
    assert doc["status"] == "completed", doc
    with sqlite3.connect(destination) as db:
        written = db.execute("SELECT count(*) FROM orders_copy").fetchone()[0]
    assert written == 250 == doc["indexed_document_count"] == doc["total_document_count"]
    assert doc["worker_hostname"] and doc["completed_at"]

    run = es.get(f"/api/v1/runs/{job}").json()
    assert run["status"] == "completed" and run["job_id"] == cid
    assert run["stats"]["rows_written"] == doc["indexed_document_count"]
    assert run["tasks"][0]["query"] == "REPLICATE [orders_copy] SELECT * FROM [orders]"
    attributes = es.get(f"/sync/jobs/{job}").json()["data"]["attributes"]
    assert (attributes["status"], attributes["job_class"]) == ("completed", "replicate")
    assert attributes["stats"]["rows_written"] == 250
    connector_doc = es.get(f"/_connector/{cid}").json()
    assert connector_doc["last_sync_status"] == "completed"
    assert connector_doc["last_indexed_document_count"] == 250 and connector_doc["last_synced"]

    stats = {"deleted_document_count": 0, "indexed_document_count": 1, "indexed_document_volume": 0}
    external_calls = {
        "_claim": {"worker_hostname": "w"},
        "_check_in": None,
        "_error": {"error": "x"},
        "_stats": stats,
    }
    for call, body in external_calls.items():  # Conveyor's workers own this job
        error_of(es.put(f"/_connector/_sync_job/{job}/{call}", json=body), 400, "status_exception")


def test_sweeper_fails_a_silent_external_job(tmp_path: Path) -> None:
    # 5 s: the live job checks in well within it even when a loaded machine answers slowly
    with server(tmp_path, external_heartbeat_timeout="5") as srv:
        es = srv.client
        cid = connector(es)
        silent, alive = sync_job(es, cid), sync_job(es, cid)
        for job in (silent, alive):
            es.put(f"/_connector/_sync_job/{job}/_claim", json={"worker_hostname": "w"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            es.put(f"/_connector/_sync_job/{alive}/_check_in")
            doc = es.get(f"/_connector/_sync_job/{silent}").json()
            if doc["status"] == "error":
                break
            time.sleep(0.3)
        assert doc["status"] == "error", doc
        assert doc["error"] == "The job has not seen any update for some time."
        assert es.get(f"/_connector/_sync_job/{alive}").json()["status"] == "in_progress"
        pending = sync_job(es, cid)
        time.sleep(6)  # past the timeout: a job no worker claimed is not swept
        assert es.get(f"/_connector/_sync_job/{pending}").json()["status"] == "pending"
