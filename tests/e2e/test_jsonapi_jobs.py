"""The JSON:API sync service's jobs (`/sync/jobs`) over HTTP against the real server:
index with every filter of the reference, sort, paging, count, fields, included; show;
delete; signal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.elastic_support import connector, server, source_db, sync_job, unique
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e
JSONAPI = "application/vnd.api+json"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server(tmp_path_factory.mktemp("jsonapi")) as running:
        running.client.headers["Accept"] = JSONAPI
        yield running


@pytest.fixture(scope="module")
def runs(srv: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A completed replicate run (priority 5), three external sync jobs (one failed)."""
    es = srv.client
    base = tmp_path_factory.mktemp("jsonapi-data")
    source = source_db(base / "shop.db", rows=40)
    ids = []
    for name, url in (("src", f"sqlite:///{source}"), ("dst", f"sqlite:///{base / 'dst.db'}")):
        body = {"name": unique(name), "url": url}
        ids.append(es.post("/api/v1/connections", json=body).json()["id"])
    job = es.post(
        "/api/v1/jobs",
        json={
            "name": unique("job"),
            "source_connection_id": ids[0],
            "destination_connection_id": ids[1],
            "queries": ["REPLICATE [orders]"],
        },
    ).json()
    replicate = es.post(
        f"/api/v1/jobs/{job['id']}/execute", json={"priority": 5, "wait": True, "timeout": 60}
    ).json()
    assert replicate["status"] == "completed", replicate
    cid = connector(es)
    external = [sync_job(es, cid) for _ in range(3)]
    es.put(f"/_connector/_sync_job/{external[0]}/_claim", json={"worker_hostname": "w"})
    es.put(f"/_connector/_sync_job/{external[0]}/_error", json={"error": "disk full"})
    return {"replicate": replicate["id"], "job": job["id"], "external": external, "connector": cid}


def index(es: httpx.Client, **params: str) -> dict[str, Any]:
    response = es.get("/sync/jobs", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSONAPI
    return dict(response.json())


def ids_of(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


def test_index_documents_and_count(srv: Server, runs: dict[str, Any]) -> None:
    es = srv.client
    body = index(es, count="true")
    assert body["meta"]["count"] == len(body["data"]) >= 4
    assert body["jsonapi"] == {"version": "1.1"}
    item = next(d for d in body["data"] if d["id"] == runs["replicate"])
    assert item["type"] == "sync:jobs" and item["links"]["self"] == f"/sync/jobs/{item['id']}"
    attributes = item["attributes"]
    assert {
        "job_class",
        "priority",
        "status",
        "progress",
        "retry_count",
        "error",
        "unicity",
    } <= set(attributes)
    assert {"scheduled_at", "created_at", "updated_at"} <= set(attributes)
    assert (attributes["job_class"], attributes["priority"], attributes["retry_count"]) == (
        "replicate",
        5,
        0,
    )
    assert attributes["stats"]["rows_written"] == 40 and attributes["progress"] == 1.0
    assert item["relationships"]["definition"]["data"] == {
        "type": "sync:definitions",
        "id": runs["job"],
    }
    assert item["relationships"]["project"]["data"]["id"] == "default"
    assert "meta" not in index(es)
    created = [d["attributes"]["created_at"] for d in body["data"]]
    assert created == sorted(created)  # oldest first by default


def test_every_filter(srv: Server, runs: dict[str, Any]) -> None:
    es = srv.client
    ours = ",".join([runs["replicate"], *runs["external"]])
    failed, waiting = runs["external"][0], runs["external"][1:]

    def only(**filters: str) -> set[str]:
        params = {f"filter[{k}]": v for k, v in filters.items()}
        return set(ids_of(index(es, **{"filter[id__in]": ours, **params})))

    everything = {runs["replicate"], *runs["external"]}
    assert only() == everything
    assert set(ids_of(index(es, **{"filter[id]": failed}))) == {failed}
    assert only(job_class="replicate") == {runs["replicate"]}
    assert only(job_class__in="replicate,connector_sync") == everything
    assert only(priority="5") == only(priority__gte="5") == {runs["replicate"]}
    assert only(priority__lte="0") == set(runs["external"])
    assert only(status="error") == {failed}
    assert only(status__in="pending,error") == set(runs["external"])
    assert only(progress="1.0") == {runs["replicate"]}
    assert only(retry_count="0") == only(retry_count__lte="0") == everything
    assert only(retry_count__gte="1") == set()
    assert only(error="disk full") == {failed}
    assert only(unicity=runs["job"]) == {runs["replicate"]}
    doc = es.get(f"/sync/jobs/{waiting[0]}").json()["data"]["attributes"]
    for name in ("scheduled_at", "created_at", "updated_at"):
        assert waiting[0] in only(**{name: doc[name]})
        assert waiting[0] in only(**{f"{name}__gte": doc[name]})
        assert runs["replicate"] not in only(**{f"{name}__gte": doc[name]})
        assert runs["replicate"] in only(**{f"{name}__lte": doc[name]})


def test_sort_paging_fields_and_included(srv: Server, runs: dict[str, Any]) -> None:
    es = srv.client
    ours = ",".join([runs["replicate"], *runs["external"]])
    by_priority = index(es, **{"filter[id__in]": ours, "sort": "-priority,created_at"})
    assert ids_of(by_priority) == [runs["replicate"], *runs["external"]]
    newest = index(es, **{"filter[id__in]": ours, "sort": "-created_at"})
    assert ids_of(newest) == [*reversed(runs["external"]), runs["replicate"]]

    page = index(
        es, **{"filter[id__in]": ours, "page[size]": "2", "page[number]": "2", "count": "1"}
    )
    assert ids_of(page) == runs["external"][1:3] and page["meta"]["count"] == 4
    assert page["links"]["prev"] and page["links"]["next"] is None
    assert "page%5Bnumber%5D=1" in page["links"]["first"]
    first = index(es, **{"filter[id__in]": ours, "page[size]": "2"})
    assert ids_of(first) == [runs["replicate"], runs["external"][0]] and first["links"]["next"]

    sparse = index(es, **{"filter[id]": runs["replicate"], "fields": "status,priority"})
    assert sparse["data"][0]["attributes"] == {"status": "completed", "priority": 5}
    assert "relationships" not in sparse["data"][0] or sparse["data"][0]["relationships"] == {}
    typed = index(es, **{"filter[id]": runs["replicate"], "fields[sync:jobs]": "status"})
    assert typed["data"][0]["attributes"] == {"status": "completed"}

    included = index(
        es, **{"filter[id]": runs["replicate"], "included": "definition,project,created_by"}
    )["included"]
    kinds = {(item["type"], item["id"]) for item in included}
    assert ("sync:definitions", runs["job"]) in kinds and ("sync:projects", "default") in kinds
    assert any(item["type"] == "sync:users" for item in included)

    shown = es.get(
        f"/sync/jobs/{runs['replicate']}", params={"fields": "status", "included": "definition"}
    ).json()
    assert shown["data"]["attributes"] == {"status": "completed"}
    assert shown["included"][0]["attributes"]["type"] == "standard"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"filter[colour]": "red"}, "filter[colour]"),
        ({"filter[priority__in]": "1,2"}, "filter[priority__in]"),
        ({"filter[priority]": "high"}, "filter[priority]"),
        ({"sort": "colour"}, "sort"),
        ({"page[size]": "0"}, "page[size]"),
        ({"page[number]": "x"}, "page[number]"),
        ({"included": "secrets"}, "included"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_400(srv: Server, params: dict[str, str], parameter: str) -> None:
    response = srv.client.get("/sync/jobs", params=params)
    assert response.status_code == 400 and response.headers["content-type"] == JSONAPI
    assert response.json()["errors"][0]["source"] == {"parameter": parameter}


def test_show_missing_delete_and_signals(srv: Server, runs: dict[str, Any]) -> None:
    es = srv.client
    missing = es.get("/sync/jobs/nope")
    assert missing.status_code == 404 and missing.json()["errors"][0]["status"] == "404"

    cid = connector(es)
    job = sync_job(es, cid)
    assert es.delete(f"/sync/jobs/{job}").status_code == 409  # still pending
    signal = {"data": {"type": "sync:signals", "attributes": {"signal": "cancel"}}}
    canceled = es.post(f"/sync/jobs/{job}/signal", json=signal)
    assert (
        canceled.status_code == 200
        and canceled.json()["data"]["attributes"]["status"] == "canceled"
    )
    assert es.post(f"/sync/jobs/{job}/signal", json={"signal": "cancel"}).status_code == 409

    retried = es.post(f"/sync/jobs/{job}/signal", json={"signal": "retry"})
    assert retried.status_code == 201, retried.text
    new = retried.json()["data"]
    assert new["id"] != job and retried.headers["location"] == f"/sync/jobs/{new['id']}"
    assert (new["attributes"]["status"], new["attributes"]["trigger_method"]) == (
        "pending",
        "retry",
    )
    assert retried.json()["meta"] == {"retry_of": job}
    assert es.get(f"/_connector/_sync_job/{new['id']}").json()["connector"]["id"] == cid
    assert es.post(f"/sync/jobs/{new['id']}/signal", json={"signal": "retry"}).status_code == 409
    bad = es.post(f"/sync/jobs/{new['id']}/signal", json={"signal": "pause"})
    assert (
        bad.status_code == 422
        and bad.json()["errors"][0]["source"]["pointer"] == "/data/attributes/signal"
    )

    assert es.delete(f"/sync/jobs/{job}").status_code == 204
    assert es.get(f"/sync/jobs/{job}").status_code == 404

    rerun = es.post(f"/sync/jobs/{runs['external'][0]}/signal", json={"signal": "retry"}).json()
    assert rerun["data"]["attributes"]["job_class"] == "connector_sync"


def test_a_run_started_through_elastic_appears_everywhere(srv: Server, tmp_path: Path) -> None:
    es = srv.client
    source = source_db(tmp_path / "src.db", rows=75)
    cid = connector(es, "sqlite", index_name="orders")
    values = {"source": f"sqlite:///{source}", "destination": f"sqlite:///{tmp_path / 'dst.db'}"}
    es.put(f"/_connector/{cid}/_configuration", json={"values": values})
    job = sync_job(es, cid)
    run = srv.wait_run(job)
    elastic = es.get(f"/_connector/_sync_job/{job}").json()
    jsonapi = es.get(f"/sync/jobs/{job}").json()["data"]["attributes"]
    assert run["status"] == elastic["status"] == jsonapi["status"] == "completed"
    assert run["stats"]["rows_written"] == elastic["indexed_document_count"] == 75
    assert jsonapi["stats"] == run["stats"]
    listed = es.get("/api/v1/runs", params={"job_id": cid}).json()
    assert [item["id"] for item in listed["items"]] == [job]
