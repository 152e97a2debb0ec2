"""The audit recorder's decisions and the request log's pushdown, without I/O."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.datastructures import Headers

from conveyor.api.audit import action_of, basic_user, derived_action, entry_for, template_of
from conveyor.compat.cdata.odata.query import QueryOptions
from conveyor.compat.cdata.odata.requests import PROPERTIES, store_query
from conveyor.domain import Role
from conveyor.services import audit
from conveyor.services.audit import Note
from conveyor.services.context import Principal

NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
ALICE = Principal(user_id="u-alice", name="alice", role=Role.standard)


@dataclass
class FakeRoute:
    """What the recorder reads of a matched route."""

    path_format: str
    methods: set[str] = field(default_factory=lambda: {"POST", "PUT", "PATCH", "DELETE", "GET"})


def scope(
    method: str,
    path: str,
    route: str | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **state: Any,
) -> dict[str, Any]:
    """An ASGI scope after routing, as the recorder sees it when the answer starts."""
    found: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("10.0.0.7", 51234),
        "state": state,
        "path_params": params or {},
    }
    if route is not None:
        found["route"] = FakeRoute(route)
    return found


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    ("method", "template", "action"),
    [
        ("POST", "/api/v1/jobs", "jobs.create"),
        ("PATCH", "/api/v1/jobs/{job_id}", "jobs.update"),
        ("DELETE", "/api/v1/jobs/{job_id}", "jobs.delete"),
        ("POST", "/api/v1/jobs/{job_id}/execute", "jobs.execute"),
        ("POST", "/api/v1/runs/{run_id}/cancel", "runs.cancel"),
        ("POST", "/api/v1/jobs/{job_id}/tasks", "tasks.create"),
        ("POST", "/api/v1/jobs/{job_id}/tasks/{task_id}/move", "tasks.move"),
        ("POST", "/api/v1/connections/{connection_id}/test", "connections.test"),
        ("POST", "/api/v1/users/{user_id}/tokens", "tokens.create"),
        ("DELETE", "/api/v1/users/{user_id}/tokens/{token_id}", "tokens.delete"),
        ("POST", "/api.rsc/v2/workspaces/{workspace_id}/jobs", "jobs.create"),
        ("PUT", "/api.rsc/v2/jobs/{job_id}", "jobs.update"),
        ("POST", "/api.rsc/jobs", "jobs.create"),
        ("PUT", "/api.rsc/jobs({key})", "jobs.update"),
        ("PUT", "/api.rsc/tasks", "tasks.update"),
        ("DELETE", "/api.rsc/workspaces({key})", "workspaces.delete"),
        ("DELETE", "/api.rsc/requests({key})", "requests.delete"),
        ("POST", "/_connector/_sync_job", "sync_jobs.create"),
        ("PUT", "/_connector/_sync_job/{job_id}/_check_in", "sync_jobs.check_in"),
        ("PUT", "/_connector/{connector_id}/_filtering/_activate", "connectors.filtering_activate"),
        ("POST", "/_connector", "connectors.create"),
        ("DELETE", "/_connector/{connector_id}", "connectors.delete"),
    ],
)
def test_actions_are_read_from_route_templates(method: str, template: str, action: str) -> None:
    assert derived_action(method, template) == action
    assert action_of(method, template) == action


@pytest.mark.parametrize(
    ("method", "template", "action"),
    [
        ("GET", "/api/v1/jobs/{job_id}", None),
        ("HEAD", "/api/v1/jobs", None),
        ("POST", "/api.rsc/getjobstatus", None),  # a POST that only reads
        ("POST", "/api.rsc/getconnectiontables", None),
        ("POST", "/api.rsc/executejob", "jobs.execute"),
        ("POST", "/api.rsc/canceljob", "jobs.cancel"),
        ("POST", "/api.rsc/v2/users/generate-token", "tokens.create"),
        ("GET", "/admin/app/scapi/datafeed/synchron/{external_key}/", "jobs.execute"),
        ("HEAD", "/admin/app/scapi/datafeed/synchron/{external_key}", "jobs.execute"),
        ("POST", "/admin/app/scapi/jobs/{job_id}/start", "jobs.execute"),
        ("POST", "/sync/exports/export", "jobs.execute"),
        ("DELETE", "/sync/jobs/{job_id}", "runs.delete"),
        ("PUT", "/_connector/{connector_id}", "connectors.put"),
    ],
)
def test_reads_and_irregular_routes(method: str, template: str, action: str | None) -> None:
    assert action_of(method, template) == action


def test_the_template_of_a_route_included_under_a_prefix() -> None:
    included = scope("PATCH", "/api/v1/jobs/j-1", "/jobs/{job_id}", {"job_id": "j-1"})
    assert template_of(included) == "/api/v1/jobs/{job_id}"
    keyed = scope("PUT", "/api.rsc/jobs('a/b')", "/api.rsc/jobs({key})", {"key": "'a/b'"})
    assert template_of(keyed) == "/api.rsc/jobs({key})"
    assert template_of(scope("GET", "/nowhere")) is None


def test_basic_user_is_the_name_never_the_password() -> None:
    assert basic_user(Headers(basic("alice", "s3cret:with:colons"))) == "alice"
    assert basic_user(Headers({"Authorization": "Basic !!!"})) is None
    assert basic_user(Headers({"Authorization": "Bearer alice:x"})) is None
    assert basic_user(Headers(basic("", "password-only"))) is None


def test_a_write_is_recorded_with_what_the_services_noted() -> None:
    note = Note(changed=True, target_id="j-1", workspace_id="ws-1")
    request = scope("PATCH", "/api/v1/jobs/j-1", "/jobs/{job_id}", {"job_id": "j-1"})
    request["state"]["principal"] = ALICE
    entry = entry_for(request, note, 200, NOW)
    assert entry == audit.Entry(
        created_at=NOW,
        surface="native",
        method="PATCH",
        route="/api/v1/jobs/{job_id}",
        path="/api/v1/jobs/j-1",
        action="jobs.update",
        status=200,
        user_id="u-alice",
        user_name="alice",
        workspace_id="ws-1",
        target_id="j-1",
        client="10.0.0.7",
    )


def test_a_failed_write_falls_back_to_the_path_for_its_target() -> None:
    request = scope("DELETE", "/api.rsc/jobs('nightly')", "/api.rsc/jobs({key})")
    request["path_params"] = {"key": "'nightly'"}
    request["state"]["principal"] = ALICE
    entry = entry_for(request, Note(), 403, NOW)
    assert entry is not None
    assert (entry.action, entry.status, entry.target_id, entry.surface) == (
        "jobs.delete",
        403,
        "nightly",
        "cdata_v1",
    )


def test_reads_unknown_routes_and_wrong_methods_are_not_recorded() -> None:
    reader = scope("GET", "/api/v1/jobs", "/jobs", principal=ALICE)
    assert entry_for(reader, Note(), 200, NOW) is None
    assert entry_for(scope("POST", "/api/v1/nothing"), Note(), 404, NOW) is None
    wrong_method = scope("POST", "/api/v1/jobs/j-1", principal=ALICE)
    wrong_method["route"] = FakeRoute("/jobs/{job_id}", {"GET"})
    assert entry_for(wrong_method, Note(), 405, NOW) is None
    status_poll = scope("POST", "/api.rsc/getjobstatus", "/api.rsc/getjobstatus", principal=ALICE)
    assert entry_for(status_poll, Note(), 200, NOW) is None


def test_a_read_during_which_a_service_changed_something_is_recorded() -> None:
    request = scope("GET", "/x/jobs/j-1/start", "/x/jobs/{job_id}/start", {"job_id": "j-1"})
    request["state"]["principal"] = ALICE
    entry = entry_for(request, Note(changed=True, target_id="j-1"), 200, NOW)
    assert entry is not None and (entry.action, entry.target_id) == ("jobs.start", "j-1")


def test_failed_sign_ins_name_the_user_basic_tried_and_nothing_secret() -> None:
    tried = scope("GET", "/api/v1/jobs", "/jobs", headers=basic("alice", "hunter2-wrong"))
    entry = entry_for(tried, Note(), 401, NOW)
    assert entry is not None
    assert (entry.action, entry.user_name, entry.user_id) == ("signin.failed", "alice", None)
    assert "hunter2" not in repr(entry)
    bearer = scope("GET", "/api/v1/jobs", "/jobs", headers={"Authorization": "Bearer cvy_nope"})
    entry = entry_for(bearer, Note(), 401, NOW)
    assert entry is not None and entry.user_name is None and "cvy_nope" not in repr(entry)
    # A read without any credentials is not a sign-in; a write without them is recorded.
    assert entry_for(scope("GET", "/api/v1/jobs", "/jobs"), Note(), 401, NOW) is None
    anonymous_write = entry_for(scope("POST", "/api/v1/jobs", "/jobs"), Note(), 401, NOW)
    assert anonymous_write is not None and anonymous_write.action == "signin.failed"
    feed = "/admin/app/scapi/datafeed/synchron/{external_key}/"
    anonymous_start = scope(
        "GET", "/admin/app/scapi/datafeed/synchron/k/", feed, {"external_key": "k"}
    )
    assert entry_for(anonymous_start, Note(), 401, NOW) is not None  # a GET that starts a job


@dataclass(frozen=True)
class Refused:
    """The shape the auth dependencies leave on `request.state` for a refused sign-in."""

    user_name: str | None
    client: str
    limited: bool


def test_a_rate_limited_sign_in_is_a_failed_one_with_its_status() -> None:
    limited = scope(
        "POST", "/api.rsc/jobs", "/api.rsc/jobs", headers={"x-cdata-authtoken": "cvy_guess"}
    )
    limited["state"]["sign_in_failure"] = Refused("bob", "10.0.0.7", True)
    entry = entry_for(limited, Note(), 429, NOW)
    assert entry is not None and (entry.action, entry.status, entry.user_name) == (
        "signin.failed",
        429,
        "bob",
    )


def test_the_request_log_pushes_exact_filters_to_the_store() -> None:
    def pushed(text: str) -> tuple[dict[str, str], bool]:
        return store_query(QueryOptions.parse({"$filter": text}, PROPERTIES))

    assert pushed("User eq 'alice' and Status ge 400") == (
        {"user_name": "alice", "status__gte": "400"},
        True,
    )
    assert pushed("Timestamp ge 2025-01-01T00:00:00Z and Action in ('jobs.create','jobs.update')")[
        0
    ] == {"created_at__gte": "2025-01-01T00:00:00+00:00", "action__in": "jobs.create,jobs.update"}
    # Inexact: the store selects a superset, the rows are then filtered one by one.
    assert pushed("Status gt 400") == ({"status__gte": "400"}, False)
    assert pushed("User eq 'alice' or User eq 'bob'") == ({}, False)
    assert pushed("contains(Route, 'jobs') and Method eq 'POST'") == ({"method": "POST"}, False)
    assert pushed("Error eq 'Forbidden'") == ({}, False)
    assert pushed("Id eq 'x'") == ({}, False)  # not a number: left to the evaluator
    assert pushed("WorkspaceId eq null") == ({}, False)


def test_the_first_note_of_a_request_holds_and_none_is_kept_outside_one() -> None:
    audit.note("ignored")  # no request: nothing to note on
    with audit.observing() as note:
        audit.note("connector-1", "ws-1")
        audit.note("connection-9", "ws-1")  # an inner service, called on the way
    assert (note.changed, note.target_id, note.workspace_id) == (True, "connector-1", "ws-1")
    with audit.observing() as fresh:
        pass
    assert fresh == Note()
