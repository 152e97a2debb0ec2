"""Elastic's connector API (`/_connector`) over HTTP against the real server: every
endpoint of `reference/elastic-api-spec/connector.*.json` except `_secret`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.elastic_support import VENDOR, connector, error_of, server, sync_job, unique
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e

DOCUMENT_FIELDS = {
    "id",
    "api_key_id",
    "api_key_secret_id",
    "configuration",
    "custom_scheduling",
    "deleted",
    "description",
    "error",
    "features",
    "filtering",
    "index_name",
    "is_native",
    "language",
    "last_access_control_sync_error",
    "last_access_control_sync_scheduled_at",
    "last_access_control_sync_status",
    "last_deleted_document_count",
    "last_incremental_sync_scheduled_at",
    "last_indexed_document_count",
    "last_seen",
    "last_sync_error",
    "last_sync_scheduled_at",
    "last_sync_status",
    "last_synced",
    "name",
    "pipeline",
    "scheduling",
    "service_type",
    "status",
    "sync_cursor",
    "sync_now",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server(tmp_path_factory.mktemp("elastic-connectors")) as running:
        yield running


@pytest.fixture
def es(srv: Server) -> httpx.Client:
    return srv.client


def test_put_get_and_replace(es: httpx.Client) -> None:
    connector_id = unique()
    body = {"index_name": unique("content"), "name": "Drive", "service_type": "google_drive"}
    created = es.put(f"/_connector/{connector_id}", json={**body, "description": "d"})
    assert created.status_code == 201
    assert created.json() == {"result": "created", "id": connector_id}
    assert created.headers["x-elastic-product"] == "Elasticsearch"
    assert created.headers["content-type"].startswith("application/vnd.elasticsearch+json")

    doc = es.get(f"/_connector/{connector_id}").json()
    assert set(doc) == DOCUMENT_FIELDS
    assert doc["id"] == connector_id and doc["status"] == "created" and doc["deleted"] is False
    assert doc["filtering"][0]["domain"] == "DEFAULT"
    assert doc["filtering"][0]["active"]["rules"][0]["id"] == "DEFAULT"
    assert doc["scheduling"]["full"] == {"enabled": False, "interval": "0 0 0 * * ?"}
    assert doc["configuration"] == {} and doc["is_native"] is False

    replaced = es.put(f"/_connector/{connector_id}", json={**body, "is_native": True})
    assert replaced.status_code == 200 and replaced.json()["result"] == "updated"
    doc = es.get(f"/_connector/{connector_id}").json()
    assert doc["description"] is None and doc["status"] == "needs_configuration"


def test_put_and_post_without_id_generate_one(es: httpx.Client) -> None:
    for method in ("PUT", "POST"):
        response = es.request(method, "/_connector", json={"index_name": unique("idx")})
        assert response.status_code == 201, response.text
        generated = response.json()["id"]
        assert es.get(f"/_connector/{generated}").json()["name"] == ""
    assert es.post("/_connector").status_code == 201  # the body is optional


def test_list_sorted_by_index_name_with_filters_and_counts(es: httpx.Client) -> None:
    tag = unique("ls")
    ids = {}
    for letter, service in (("c", "s3"), ("a", "jira"), ("b", "s3")):
        ids[letter] = connector(es, service, index_name=f"{tag}-{letter}", name=f"{tag} {letter}")
    listed = es.get("/_connector", params={"query": tag}).json()
    assert listed["count"] == 3
    assert [c["index_name"] for c in listed["results"]] == [f"{tag}-{x}" for x in "abc"]

    page = es.get("/_connector", params={"query": tag, "from": 1, "size": 1}).json()
    assert page["count"] == 3 and [c["id"] for c in page["results"]] == [ids["b"]]
    by_index = es.get("/_connector", params={"index_name": f"{tag}-a,{tag}-c"}).json()
    assert {c["id"] for c in by_index["results"]} == {ids["a"], ids["c"]}
    by_name = es.get("/_connector", params={"connector_name": f"{tag} b"}).json()
    assert [c["id"] for c in by_name["results"]] == [ids["b"]]
    by_type = es.get("/_connector", params={"service_type": "s3", "query": tag}).json()
    assert {c["id"] for c in by_type["results"]} == {ids["b"], ids["c"]}

    assert es.delete(f"/_connector/{ids['a']}").json() == {"acknowledged": True}
    assert es.get("/_connector", params={"query": tag}).json()["count"] == 2
    with_deleted = es.get("/_connector", params={"query": tag, "include_deleted": "true"}).json()
    assert with_deleted["count"] == 3


def test_soft_and_hard_delete(es: httpx.Client) -> None:
    soft = connector(es)
    job = sync_job(es, soft)
    assert es.delete(f"/_connector/{soft}").json() == {"acknowledged": True}
    error_of(es.get(f"/_connector/{soft}"), 404, "resource_not_found_exception")
    kept = es.get(f"/_connector/{soft}", params={"include_deleted": "true"}).json()
    assert kept["deleted"] is True
    assert es.get(f"/_connector/_sync_job/{job}").status_code == 200  # sync jobs stay

    hard = connector(es)
    orphan = sync_job(es, hard)
    assert es.delete(f"/_connector/{hard}", params={"hard": "true"}).status_code == 200
    error_of(
        es.get(f"/_connector/{hard}", params={"include_deleted": "true"}),
        404,
        "resource_not_found_exception",
    )
    assert es.get(f"/_connector/_sync_job/{orphan}").json()["connector"]["id"] == hard

    both = connector(es)
    gone = sync_job(es, both)
    es.put(f"/_connector/_sync_job/{gone}/_cancel")
    response = es.delete(f"/_connector/{both}", params={"hard": "true", "delete_sync_jobs": "true"})
    assert response.status_code == 200
    error_of(es.get(f"/_connector/_sync_job/{gone}"), 404, "resource_not_found_exception")


def test_check_in_and_last_sync(es: httpx.Client) -> None:
    connector_id = connector(es)
    assert es.put(f"/_connector/{connector_id}/_check_in").json() == {"result": "updated"}
    assert es.get(f"/_connector/{connector_id}").json()["last_seen"].endswith("Z")
    stats = {
        "last_sync_status": "completed",
        "last_synced": "2024-05-01T10:00:00+00:00",
        "last_indexed_document_count": 42,
        "last_deleted_document_count": 3,
        "last_sync_error": None,
        "sync_cursor": {"page": 7},
    }
    assert es.put(f"/_connector/{connector_id}/_last_sync", json=stats).status_code == 200
    doc = es.get(f"/_connector/{connector_id}").json()
    assert doc["last_sync_status"] == "completed" and doc["last_indexed_document_count"] == 42
    assert doc["last_synced"] == "2024-05-01T10:00:00.000Z" and doc["sync_cursor"] == {"page": 7}


def _update(es: httpx.Client, connector_id: str, endpoint: str, body: object) -> dict:
    response = es.put(f"/_connector/{connector_id}/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "updated"}
    return dict(es.get(f"/_connector/{connector_id}").json())


def test_every_update_endpoint(es: httpx.Client) -> None:
    cid = connector(es)
    doc = _update(es, cid, "_api_key_id", {"api_key_id": "k1", "api_key_secret_id": "s1"})
    assert (doc["api_key_id"], doc["api_key_secret_id"]) == ("k1", "s1")
    field = {"label": "Host", "value": "h1", "type": "str", "required": True}
    doc = _update(es, cid, "_configuration", {"configuration": {"host": field}})
    assert doc["configuration"]["host"]["value"] == "h1" and doc["status"] == "configured"
    doc = _update(es, cid, "_configuration", {"values": {"host": "h2"}})
    assert doc["configuration"]["host"] == {**field, "value": "h2"}
    doc = _update(es, cid, "_error", {"error": "boom"})
    assert (doc["error"], doc["status"]) == ("boom", "error")
    doc = _update(es, cid, "_error", {"error": None})
    assert (doc["error"], doc["status"]) == (None, "connected")
    features = {"document_level_security": {"enabled": True}}
    assert _update(es, cid, "_features", {"features": features})["features"] == features
    rules = [
        {"id": "r1", "field": "x", "order": 1, "policy": "exclude", "rule": "equals", "value": "1"}
    ]
    doc = _update(es, cid, "_filtering", {"rules": rules})
    drafted = doc["filtering"][0]["draft"]["rules"]
    assert [{k: rule[k] for k in rules[0]} for rule in drafted[:1]] == rules
    assert [rule["id"] for rule in drafted] == ["r1", "DEFAULT"]
    assert doc["filtering"][0]["draft"]["validation"]["state"] == "edited"
    reason = error_of(es.put(f"/_connector/{cid}/_filtering/_activate"), 400, "status_exception")
    assert "[edited]" in reason
    doc = _update(
        es, cid, "_filtering/_validation", {"validation": {"state": "valid", "errors": []}}
    )
    assert doc["filtering"][0]["draft"]["validation"]["state"] == "valid"
    doc = _update(es, cid, "_filtering/_activate", None)
    assert doc["filtering"][0]["active"]["rules"] == drafted
    whole = [{**doc["filtering"][0], "domain": "DEFAULT"}]
    assert _update(es, cid, "_filtering", {"filtering": whole})["filtering"] == whole
    new_index = unique("content")
    assert _update(es, cid, "_index_name", {"index_name": new_index})["index_name"] == new_index
    doc = _update(es, cid, "_name", {"name": "Renamed", "description": "about"})
    assert (doc["name"], doc["description"]) == ("Renamed", "about")
    doc = _update(es, cid, "_native", {"is_native": True})
    assert doc["is_native"] is True and doc["status"] == "configured"  # was connected
    pipeline = {
        "extract_binary_content": False,
        "name": "my-pipeline",
        "reduce_whitespace": True,
        "run_ml_inference": False,
    }
    assert _update(es, cid, "_pipeline", {"pipeline": pipeline})["pipeline"] == pipeline
    schedule = {"full": {"enabled": True, "interval": "0 10 * * * ?"}}
    doc = _update(es, cid, "_scheduling", {"scheduling": schedule})
    assert doc["scheduling"]["full"] == schedule["full"]
    assert doc["scheduling"]["incremental"]["enabled"] is False
    doc = _update(es, cid, "_service_type", {"service_type": "confluence"})
    assert (doc["service_type"], doc["status"]) == ("confluence", "needs_configuration")
    doc = _update(es, cid, "_status", {"status": "configured"})
    assert doc["status"] == "configured"


def test_update_refusals(es: httpx.Client) -> None:
    cid = connector(es)
    reason = error_of(
        es.put(f"/_connector/{cid}/_status", json={"status": "connected"}), 400, "status_exception"
    )
    assert "from [created] to [connected]" in reason
    error_of(
        es.put(f"/_connector/{cid}/_status", json={"status": "sleeping"}),
        400,
        "x_content_parse_exception",
    )
    reason = error_of(
        es.put(f"/_connector/{cid}/_configuration", json={"values": {"nope": 1}}),
        400,
        "status_exception",
    )
    assert "Unknown [configuration] fields" in reason
    other = es.get(f"/_connector/{connector(es)}").json()["index_name"]
    reason = error_of(
        es.put(f"/_connector/{cid}/_index_name", json={"index_name": other}),
        400,
        "status_exception",
    )
    assert f"Index name [{other}] is used by another connector." == reason
    error_of(es.put(f"/_connector/{cid}/_name", json={}), 400, "status_exception")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/_connector/{id}", None),
        ("DELETE", "/_connector/{id}", None),
        ("PUT", "/_connector/{id}/_check_in", None),
        ("PUT", "/_connector/{id}/_last_sync", {"last_sync_status": "error"}),
        ("PUT", "/_connector/{id}/_api_key_id", {"api_key_id": "x"}),
        ("PUT", "/_connector/{id}/_configuration", {"configuration": {}}),
        ("PUT", "/_connector/{id}/_error", {"error": "x"}),
        ("PUT", "/_connector/{id}/_features", {"features": {}}),
        ("PUT", "/_connector/{id}/_filtering", {"filtering": []}),
        ("PUT", "/_connector/{id}/_filtering/_activate", None),
        (
            "PUT",
            "/_connector/{id}/_filtering/_validation",
            {"validation": {"state": "valid", "errors": []}},
        ),
        ("PUT", "/_connector/{id}/_index_name", {"index_name": "x"}),
        ("PUT", "/_connector/{id}/_name", {"name": "x"}),
        ("PUT", "/_connector/{id}/_native", {"is_native": False}),
        (
            "PUT",
            "/_connector/{id}/_pipeline",
            {
                "pipeline": {
                    "extract_binary_content": True,
                    "name": "p",
                    "reduce_whitespace": True,
                    "run_ml_inference": True,
                }
            },
        ),
        (
            "PUT",
            "/_connector/{id}/_scheduling",
            {"scheduling": {"full": {"enabled": True, "interval": "0 0 0 * * ?"}}},
        ),
        ("PUT", "/_connector/{id}/_service_type", {"service_type": "x"}),
        ("PUT", "/_connector/{id}/_status", {"status": "error"}),
    ],
)
def test_missing_connector_is_404(es: httpx.Client, method: str, path: str, body: object) -> None:
    missing = unique("missing")
    response = es.request(method, path.format(id=missing), json=body)
    assert f"[{missing}]" in error_of(response, 404, "resource_not_found_exception")


def test_malformed_bodies_empty_ids_and_protocol(srv: Server, es: httpx.Client) -> None:
    cid = connector(es)
    bad_json = es.put(
        f"/_connector/{cid}/_name", content=b'{"name": ', headers={"Content-Type": VENDOR}
    )
    error_of(bad_json, 400, "x_content_parse_exception")
    reason = error_of(
        es.put(f"/_connector/{cid}", json={"colour": "red"}), 400, "x_content_parse_exception"
    )
    assert "unknown field [colour]" in reason
    error_of(
        es.put(f"/_connector/{cid}/_native", json={"is_native": "maybe"}),
        400,
        "x_content_parse_exception",
    )
    error_of(es.put(f"/_connector/{cid}/_native"), 400, "parse_exception")
    error_of(es.put(f"/_connector/{cid}/_name", json=[1]), 400, "x_content_parse_exception")
    error_of(es.get("/_connector/%20"), 400, "action_request_validation_exception")
    error_of(es.get("/_connector", params={"colour": "red"}), 400, "illegal_argument_exception")
    error_of(
        es.get("/_connector", params={"size": "-1"}), 400, "action_request_validation_exception"
    )
    error_of(es.get("/_connector", params={"size": "ten"}), 400, "illegal_argument_exception")
    error_of(es.post(f"/_connector/{cid}/_name", json={}), 405, "illegal_argument_exception")
    error_of(es.put(f"/_connector/{cid}/_nothing", json={}), 400, "illegal_argument_exception")

    plain = httpx.get(f"{srv.url}/_connector", headers={"Accept": "application/json"})
    error_of(plain, 401, "security_exception")
    assert "ApiKey" in plain.headers["www-authenticate"]
    bearer = httpx.get(
        f"{srv.url}/_connector",
        headers={"Authorization": srv.client.headers["Authorization"].replace("ApiKey", "Bearer")},
    )
    assert bearer.status_code == 200 and bearer.headers["content-type"] == "application/json"
    assert bearer.headers["x-elastic-product"] == "Elasticsearch"

    trimmed = es.get(f"/_connector/{cid}", params={"filter_path": "id,scheduling.full.*"}).json()
    assert trimmed == {
        "id": cid,
        "scheduling": {"full": {"enabled": False, "interval": "0 0 0 * * ?"}},
    }
    listed = es.get(
        "/_connector", params={"filter_path": "results.id", "index_name": "none"}
    ).json()
    assert listed == {}
