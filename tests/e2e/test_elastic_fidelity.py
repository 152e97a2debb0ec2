"""Elasticsearch's own rules for the connector and sync job APIs, over HTTP against the
real server: what Elasticsearch refuses (index names, schedules, filtering, configuration,
last-sync reports) and what it writes (noop answers, partial feature updates, dates with
milliseconds, access-control indices, a pending sync job's cancellation instants)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.elastic_support import connector, error_of, server, sync_job, unique
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e

INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
"""How Elasticsearch writes an Instant: `2023-05-25T12:30:00.000Z`."""
VALIDATION = "action_request_validation_exception"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server(tmp_path_factory.mktemp("elastic-fidelity")) as running:
        yield running


@pytest.fixture
def es(srv: Server) -> httpx.Client:
    return srv.client


def _put(es: httpx.Client, cid: str, part: str, body: Any) -> httpx.Response:
    return es.put(f"/_connector/{cid}/{part}", json=body)


def _doc(es: httpx.Client, cid: str) -> dict[str, Any]:
    return dict(es.get(f"/_connector/{cid}").json())


@pytest.mark.parametrize(
    "name", ["Orders", "a b", "a,b", "a*b", "a#b", "a|b", "_a", "-a", "+a", ".", "..", "x" * 256]
)
def test_invalid_index_names_are_refused_everywhere(es: httpx.Client, name: str) -> None:
    expected = f"Invalid index name [{name}]"
    for method, path in (("PUT", f"/_connector/{unique()}"), ("POST", "/_connector")):
        response = es.request(method, path, json={"index_name": name, "service_type": "x"})
        assert expected in error_of(response, 400, VALIDATION)
    cid = connector(es)
    reason = error_of(_put(es, cid, "_index_name", {"index_name": name}), 400, VALIDATION)
    assert reason.startswith("Validation Failed: 1: ") and expected in reason
    assert _doc(es, cid)["index_name"] != name


def test_valid_index_names_are_accepted(es: httpx.Client) -> None:
    for name in (unique("x" * 240), unique(".hidden"), unique("a.b-c_d+e")):
        cid = unique()
        assert es.put(f"/_connector/{cid}", json={"index_name": name}).status_code == 201
        assert _doc(es, cid)["index_name"] == name


def test_elastic_managed_connectors_need_the_content_prefix(es: httpx.Client) -> None:
    outside = unique("search")
    response = es.put(f"/_connector/{unique()}", json={"index_name": outside, "is_native": True})
    reason = error_of(response, 400, VALIDATION)
    assert f"Index [{outside}] is invalid" in reason and "prefix: [content-]" in reason
    response = es.post("/_connector", json={"index_name": outside, "is_native": True})
    error_of(response, 400, VALIDATION)

    native = unique()
    inside = unique("content")
    body = {"index_name": inside, "is_native": True}
    assert es.put(f"/_connector/{native}", json=body).status_code == 201
    reason = error_of(
        _put(es, native, "_index_name", {"index_name": outside}), 400, "status_exception"
    )
    assert f"The index name in the payload [{outside}]" in reason
    assert _put(es, native, "_index_name", {"index_name": unique("content")}).status_code == 200

    self_managed = connector(es, index_name=outside)
    reason = error_of(
        _put(es, self_managed, "_native", {"is_native": True}), 400, "status_exception"
    )
    assert f"The index name [{outside}] attached to the connector [{self_managed}]" in reason
    assert _doc(es, self_managed)["is_native"] is False
    assert _put(es, self_managed, "_index_name", {"index_name": None}).status_code == 200
    assert _put(es, self_managed, "_native", {"is_native": True}).status_code == 200


def test_the_same_index_name_is_a_noop(es: httpx.Client) -> None:
    cid = connector(es)
    index = _doc(es, cid)["index_name"]
    assert _put(es, cid, "_index_name", {"index_name": index}).json() == {"result": "noop"}
    other = unique("idx")
    assert _put(es, cid, "_index_name", {"index_name": other}).json() == {"result": "updated"}
    assert _put(es, cid, "_index_name", {"index_name": other}).json() == {"result": "noop"}
    assert _put(es, cid, "_index_name", {"index_name": None}).json() == {"result": "updated"}
    assert _put(es, cid, "_index_name", {"index_name": None}).json() == {"result": "noop"}


def test_scheduling_needs_a_schedule_and_quartz_crons(es: httpx.Client) -> None:
    cid = connector(es)
    error_of(_put(es, cid, "_scheduling", {"scheduling": {}}), 400, VALIDATION)
    error_of(_put(es, cid, "_scheduling", {}), 400, "x_content_parse_exception")
    every = {"enabled": False, "interval": "0 0 0 * * ?"}
    for bad in ("61 0 0 * * ?", "0 0 0 * * *", "0 0 25 ? * *", "daily", "0 0 0 ? * 8"):
        schedules = {"access_control": {"enabled": True, "interval": bad}, "full": every}
        reason = error_of(
            _put(es, cid, "_scheduling", {"scheduling": schedules}),
            400,
            "x_content_parse_exception",
        )
        assert f"invalid cron expression [{bad}]" in reason
    incomplete = {"full": {"enabled": True}}
    error_of(
        _put(es, cid, "_scheduling", {"scheduling": incomplete}), 400, "x_content_parse_exception"
    )
    assert _doc(es, cid)["scheduling"]["access_control"] == every  # nothing was stored

    schedules = {
        "access_control": {"enabled": True, "interval": "1 0 0 ? * 6#3"},
        "full": {"enabled": False, "interval": "2 0 0 L * ?"},
        "incremental": {"enabled": False, "interval": "3 0/5 * * * ?"},
    }
    assert _put(es, cid, "_scheduling", {"scheduling": schedules}).status_code == 200
    assert _doc(es, cid)["scheduling"] == schedules
    single = {"incremental": {"enabled": True, "interval": "0 15 10 ? * MON-FRI"}}
    assert _put(es, cid, "_scheduling", {"scheduling": single}).status_code == 200
    assert _doc(es, cid)["scheduling"] == {**schedules, **single}  # the others stay


def _rule(rule_id: str, order: int, **more: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "field": "title",
        "order": order,
        "policy": "exclude",
        "rule": "contains",
        "value": rule_id,
        **more,
    }


DEFAULT = {"id": "DEFAULT", "field": "_", "policy": "include", "rule": "regex", "value": ".*"}


def _draft(es: httpx.Client, cid: str) -> dict[str, Any]:
    return dict(_doc(es, cid)["filtering"][0]["draft"])


def test_draft_rules_keep_their_order_with_the_default_rule_last(es: httpx.Client) -> None:
    cid = connector(es)
    first_default = {**DEFAULT, "order": 0, "created_at": "2023-05-25T12:30:00Z"}
    given = [first_default, _rule("late", 5), _rule("early", 1, created_at=1685017800000)]
    assert _put(es, cid, "_filtering", {"rules": given}).status_code == 200
    rules = _draft(es, cid)["rules"]
    assert [(r["id"], r["order"]) for r in rules] == [("early", 1), ("late", 5), ("DEFAULT", 6)]
    assert rules[0]["created_at"] == "2023-05-25T12:30:00.000Z"  # epoch milliseconds
    assert rules[2]["created_at"] == "2023-05-25T12:30:00.000Z"  # the DEFAULT rule's own
    assert all(INSTANT.match(rule["updated_at"]) for rule in rules)
    assert {k: rules[2][k] for k in DEFAULT} == DEFAULT

    assert _put(es, cid, "_filtering", {"rules": [_rule("only", 3)]}).status_code == 200
    assert [(r["id"], r["order"]) for r in _draft(es, cid)["rules"]] == [
        ("only", 3),
        ("DEFAULT", 4),
    ]
    assert _put(es, cid, "_filtering", {"rules": []}).status_code == 200
    assert [(r["id"], r["order"]) for r in _draft(es, cid)["rules"]] == [("DEFAULT", 0)]
    assert _draft(es, cid)["validation"] == {"errors": [], "state": "edited"}


def test_filtering_bodies_elasticsearch_refuses(es: httpx.Client) -> None:
    cid = connector(es)
    before = _doc(es, cid)["filtering"]
    for body in (
        {"rules": [_rule("r", 1, created_at="not a date")]},
        {"rules": [_rule("r", 1, updated_at="2023-13-45T00:00:00Z")]},
        {"rules": [_rule("r", 1, policy="maybe")]},
        {"rules": [_rule("r", 1, rule="like")]},
        {"rules": [{"id": "r", "order": 1}]},
        {"advanced_snippet": {"value": "SELECT 1"}},
        {"advanced_snippet": {"value": 42}},
        {"advanced_snippet": {"value": {"q": 1}, "created_at": "yesterday"}},
    ):
        error_of(_put(es, cid, "_filtering", body), 400, "x_content_parse_exception")
    reason = error_of(_put(es, cid, "_filtering", {}), 400, VALIDATION)
    assert reason == "Validation Failed: 1: [advanced_snippet] and [rules] cannot be both [null].;"
    both = {"filtering": before, "rules": [_rule("r", 1)]}
    reason = error_of(_put(es, cid, "_filtering", both), 400, VALIDATION)
    assert "If [filtering] is specified, [rules] and [advanced_snippet]" in reason
    assert _doc(es, cid)["filtering"] == before

    snippet = {"value": {"query": {"match_all": {}}}}
    assert _put(es, cid, "_filtering", {"advanced_snippet": snippet}).status_code == 200
    stored = _draft(es, cid)["advanced_snippet"]
    assert stored["value"] == snippet["value"] and INSTANT.match(stored["created_at"])


def test_filtering_validation_requires_its_errors(es: httpx.Client) -> None:
    cid = connector(es)
    reason = error_of(
        _put(es, cid, "_filtering/_validation", {"validation": {"state": "invalid"}}),
        400,
        "x_content_parse_exception",
    )
    assert "validation.errors" in reason
    error_of(
        _put(es, cid, "_filtering/_validation", {"validation": {"state": "x", "errors": []}}),
        400,
        "x_content_parse_exception",
    )
    error_of(
        _put(
            es,
            cid,
            "_filtering/_validation",
            {"validation": {"state": "invalid", "errors": [{"ids": ["r"]}]}},
        ),
        400,
        "x_content_parse_exception",
    )
    verdict = {"state": "invalid", "errors": [{"ids": ["r1"], "messages": ["bad regex"]}]}
    assert _put(es, cid, "_filtering/_validation", {"validation": verdict}).status_code == 200
    assert _draft(es, cid)["validation"] == verdict


FIELD = {
    "category": "auth",
    "default_value": None,
    "depends_on": [{"field": "mode", "value": "basic"}],
    "display": "numeric",
    "label": "Port",
    "options": [{"label": "Default", "value": "5432"}],
    "order": 2,
    "placeholder": "",
    "required": True,
    "sensitive": False,
    "tooltip": None,
    "type": "int",
    "ui_restrictions": ["advanced"],
    "validations": [
        {"type": "greater_than", "constraint": 0},
        {"type": "included_in", "constraint": [5432, 6432]},
    ],
    "value": 5432,
}


def test_configuration_is_validated_as_elasticsearch_parses_it(es: httpx.Client) -> None:
    cid = connector(es)
    reason = error_of(_put(es, cid, "_configuration", {}), 400, VALIDATION)
    assert reason == "Validation Failed: 1: [configuration] and [values] cannot both be null.;"
    both = {"configuration": {"port": FIELD}, "values": {"port": 1}}
    reason = error_of(_put(es, cid, "_configuration", both), 400, VALIDATION)
    assert reason == (
        "Validation Failed: 1: [configuration] and [values] cannot both be provided "
        "in the same request.;"
    )
    for broken in (
        {k: v for k, v in FIELD.items() if k != "label"},
        {**FIELD, "type": "string"},
        {**FIELD, "display": "text"},
        {**FIELD, "order": "first"},
        {**FIELD, "required": "sometimes"},
        {**FIELD, "value": [1, 2]},
        {**FIELD, "validations": [{"type": "between", "constraint": 1}]},
        {**FIELD, "validations": [{"type": "less_than"}]},
        {**FIELD, "validations": [{"type": "regex", "constraint": {"re": "x"}}]},
        {**FIELD, "depends_on": [{"value": "basic"}]},
        {**FIELD, "options": [{"label": "Default"}]},
        {**FIELD, "label": 7},
    ):
        response = _put(es, cid, "_configuration", {"configuration": {"port": broken}})
        assert "port" in error_of(response, 400, "x_content_parse_exception")
    assert _doc(es, cid)["configuration"] == {}

    assert _put(es, cid, "_configuration", {"configuration": {"port": FIELD}}).status_code == 200
    doc = _doc(es, cid)
    assert doc["configuration"] == {"port": FIELD} and doc["status"] == "configured"
    assert _put(es, cid, "_configuration", {"values": {"port": 6432}}).status_code == 200
    assert _doc(es, cid)["configuration"]["port"] == {**FIELD, "value": 6432}


def test_features_update_is_partial(es: httpx.Client) -> None:
    cid = connector(es)
    first = {
        "document_level_security": {"enabled": True},
        "sync_rules": {"basic": {"enabled": True}},
    }
    assert _put(es, cid, "_features", {"features": first}).status_code == 200
    second = {
        "native_connector_api_keys": {"enabled": True},
        "sync_rules": {"advanced": {"enabled": False}},
    }
    assert _put(es, cid, "_features", {"features": second}).status_code == 200
    assert _doc(es, cid)["features"] == {
        "document_level_security": {"enabled": True},
        "native_connector_api_keys": {"enabled": True},
        "sync_rules": {"basic": {"enabled": True}, "advanced": {"enabled": False}},
    }
    error_of(_put(es, cid, "_features", {"featuresss": {}}), 400, "x_content_parse_exception")
    unknown = {"features": {"not_a_feature": {"enabled": True}}}
    error_of(_put(es, cid, "_features", unknown), 400, "x_content_parse_exception")


def test_last_sync_refuses_wrong_statuses_and_dates(es: httpx.Client) -> None:
    cid = connector(es)
    for body in (
        {"last_sync_status": "this is not a valid status"},
        {"last_access_control_sync_status": "done"},
        {"last_access_control_sync_scheduled_at": "this is not a timestamp"},
        {"sync_cursor": "page 7"},
    ):
        error_of(_put(es, cid, "_last_sync", body), 400, "x_content_parse_exception")
    report = {
        "last_sync_error": "oh no error",
        "last_sync_status": "error",
        "last_access_control_sync_scheduled_at": "2023-05-25T12:30:00.000Z",
        "last_sync_scheduled_at": 1685017800000,
    }
    assert _put(es, cid, "_last_sync", report).status_code == 200
    doc = _doc(es, cid)
    assert doc["last_sync_status"] == "error" and doc["last_sync_error"] == "oh no error"
    assert doc["last_access_control_sync_scheduled_at"] == "2023-05-25T12:30:00.000Z"
    assert doc["last_sync_scheduled_at"] == "2023-05-25T12:30:00.000Z"
    assert _put(es, cid, "_last_sync", {"last_indexed_document_count": 42}).status_code == 200
    assert _doc(es, cid)["last_sync_status"] == "error"  # a partial update


def test_dates_are_written_with_milliseconds(es: httpx.Client) -> None:
    cid = connector(es)
    assert _put(es, cid, "_check_in", None).status_code == 200
    doc = _doc(es, cid)
    assert INSTANT.match(doc["last_seen"])
    rule = doc["filtering"][0]["active"]["rules"][0]
    assert INSTANT.match(rule["created_at"]) and INSTANT.match(rule["updated_at"])
    job = es.get(f"/_connector/_sync_job/{sync_job(es, cid)}").json()
    assert INSTANT.match(job["created_at"])


def test_access_control_sync_jobs_fill_the_acl_filter_index(es: httpx.Client) -> None:
    index = unique("idx")
    cid = connector(es, index_name=index)
    acl = es.get(f"/_connector/_sync_job/{sync_job(es, cid, 'access_control')}").json()
    assert (acl["job_type"], acl["connector"]["index_name"]) == (
        "access_control",
        f".search-acl-filter-{index}",
    )
    full = es.get(f"/_connector/_sync_job/{sync_job(es, cid, 'full')}").json()
    assert full["connector"]["index_name"] == index


def test_cancelling_a_pending_sync_job_stamps_one_instant(es: httpx.Client) -> None:
    job = sync_job(es, connector(es))
    assert es.put(f"/_connector/_sync_job/{job}/_cancel").json() == {"result": "updated"}
    doc = es.get(f"/_connector/_sync_job/{job}").json()
    assert doc["status"] == "canceled"
    assert INSTANT.match(doc["cancelation_requested_at"])
    assert doc["cancelation_requested_at"] == doc["canceled_at"] == doc["completed_at"]
