"""The official `elasticsearch` Python client, unchanged, drives Conveyor's Elastic API.

The client checks the `X-Elastic-Product` header of every answer, sends the vendor media
type (`compatible-with=9`) and `Authorization: ApiKey …`; Conveyor must pass all three.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from tests.e2e.elastic_support import server, unique
from tests.e2e.server import ADMIN_TOKEN, Server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:This API is in (beta|technical preview)"),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server(tmp_path_factory.mktemp("elastic-client")) as running:
        yield running


@pytest.fixture
def client(srv: Server) -> Iterator[Elasticsearch]:
    es = Elasticsearch(srv.url, api_key=ADMIN_TOKEN, request_timeout=30)
    yield es
    es.close()


def test_official_client_drives_connectors_and_sync_jobs(client: Elasticsearch) -> None:
    connector_id, index = unique(), unique("idx")
    put = client.connector.put(
        connector_id=connector_id, index_name=index, name="Wiki", service_type="confluence"
    )
    assert put.body == {"result": "created", "id": connector_id}
    listed = client.connector.list(index_name=index)
    assert listed["count"] == 1 and listed["results"][0]["id"] == connector_id
    assert client.connector.list(from_=0, size=1)["results"]

    job_id = client.connector.sync_job_post(
        id=connector_id, job_type="full", trigger_method="on_demand"
    )["id"]
    incremental = client.connector.sync_job_post(id=connector_id, job_type="incremental")["id"]

    by_connector = client.connector.sync_job_list(connector_id=connector_id)
    assert by_connector["count"] == 2
    assert [j["id"] for j in by_connector["results"]] == [job_id, incremental]
    pending = client.connector.sync_job_list(connector_id=connector_id, status="pending")
    assert pending["count"] == 2
    fulls = client.connector.sync_job_list(connector_id=connector_id, job_type="full")
    assert [j["id"] for j in fulls["results"]] == [job_id]
    both = client.connector.sync_job_list(
        connector_id=connector_id, job_type=["full", "incremental"]
    )
    assert both["count"] == 2
    paged = client.connector.sync_job_list(connector_id=connector_id, from_=1, size=1)
    assert paged["count"] == 2 and [j["id"] for j in paged["results"]] == [incremental]

    got = client.connector.sync_job_get(connector_sync_job_id=job_id)
    assert got["status"] == "pending" and got["connector"]["index_name"] == index

    claimed = client.connector.sync_job_claim(
        connector_sync_job_id=job_id, worker_hostname="es-worker-1", sync_cursor={"cursor": 1}
    )
    assert claimed.body == {"result": "updated"}
    assert client.connector.sync_job_check_in(connector_sync_job_id=job_id).body == {
        "result": "updated"
    }
    stats = client.connector.sync_job_update_stats(
        connector_sync_job_id=job_id,
        deleted_document_count=1,
        indexed_document_count=10,
        indexed_document_volume=2,
        total_document_count=10,
        metadata={"batch": 1},
    )
    assert stats.body == {"result": "updated"}
    doc = client.connector.sync_job_get(connector_sync_job_id=job_id)
    assert (doc["status"], doc["worker_hostname"], doc["indexed_document_count"]) == (
        "in_progress",
        "es-worker-1",
        10,
    )
    in_progress = client.connector.sync_job_list(connector_id=connector_id, status="in_progress")
    assert [j["id"] for j in in_progress["results"]] == [job_id]

    assert client.connector.sync_job_error(connector_sync_job_id=job_id, error="boom").body == {
        "result": "updated"
    }
    assert client.connector.sync_job_get(connector_sync_job_id=job_id)["status"] == "error"

    assert client.connector.sync_job_cancel(connector_sync_job_id=incremental).body == {
        "result": "updated"
    }
    assert client.connector.sync_job_get(connector_sync_job_id=incremental)["status"] == "canceled"
    with pytest.raises(BadRequestError) as refused:
        client.connector.sync_job_cancel(connector_sync_job_id=incremental)
    assert refused.value.meta.status == 400 and refused.value.message == "status_exception"

    assert client.connector.sync_job_delete(connector_sync_job_id=incremental).body == {
        "acknowledged": True
    }
    with pytest.raises(NotFoundError):
        client.connector.sync_job_get(connector_sync_job_id=incremental)
    with pytest.raises(NotFoundError) as missing:
        client.connector.get(connector_id=unique("missing"))
    assert missing.value.body["error"]["type"] == "resource_not_found_exception"


def test_official_client_filtering_configuration_and_cancel(client: Elasticsearch) -> None:
    connector_id = unique()
    client.connector.put(connector_id=connector_id, index_name=unique("idx"), service_type="jira")
    rules = [
        {"id": "b", "field": "f", "order": 2, "policy": "exclude", "rule": "equals", "value": "1"},
        {"id": "a", "field": "f", "order": 1, "policy": "include", "rule": "regex", "value": ".*x"},
    ]
    assert client.connector.update_filtering(connector_id=connector_id, rules=rules).body == {
        "result": "updated"
    }
    draft = client.connector.get(connector_id=connector_id)["filtering"][0]["draft"]
    assert [rule["id"] for rule in draft["rules"]] == ["a", "b", "DEFAULT"]
    with pytest.raises(BadRequestError) as refused:
        client.connector.update_filtering(
            connector_id=connector_id, advanced_snippet={"value": "not an object"}
        )
    assert refused.value.message == "x_content_parse_exception"

    field = {"label": "Host", "type": "str", "required": True, "value": "h1"}
    configured = client.connector.update_configuration(
        connector_id=connector_id, configuration={"host": field}
    )
    assert configured.body == {"result": "updated"}
    client.connector.update_configuration(connector_id=connector_id, values={"host": "h2"})
    got = client.connector.get(connector_id=connector_id)
    assert got["configuration"]["host"] == {**field, "value": "h2"}
    with pytest.raises(BadRequestError) as neither:
        client.connector.update_configuration(connector_id=connector_id)
    assert neither.value.message == "action_request_validation_exception"

    job_id = client.connector.sync_job_post(id=connector_id)["id"]
    assert client.connector.sync_job_cancel(connector_sync_job_id=job_id).body == {
        "result": "updated"
    }
    job = client.connector.sync_job_get(connector_sync_job_id=job_id)
    assert job["status"] == "canceled" and job["cancelation_requested_at"] is not None
    assert job["cancelation_requested_at"] == job["canceled_at"] == job["completed_at"]
    listed = client.connector.sync_job_list(connector_id=connector_id, status="canceled")
    assert [j["id"] for j in listed["results"]] == [job_id]
