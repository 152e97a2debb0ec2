"""The audit log on each metadata store: a scripted session on every surface, then the
log — `/api/v1/audit` and CData's `/api.rsc/requests` — lists exactly what was done, by
whom, and nothing secret; plus its filters, its retention, and its migration."""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.services import audit
from conveyor.store import migrate
from tests.conftest import ADMIN_TOKEN
from tests.integration.migrations import differences_from_models

STAN_PASSWORD = "stan-Pa55word-canary"
WRONG_PASSWORD = "wrong-Pa55word-canary"
WRONG_TOKEN = "cvy_wrong_token_canary_0123456789"
QUERY_CANARY = "query-string-canary-42"
Expected = tuple[str, str, str, str | None, int]  # surface, method, action, user, status


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Script:
    """The app, called as several users; every call that must be logged is noted."""

    app: Any
    expected: list[Expected] = field(default_factory=list)
    secrets: list[str] = field(default_factory=lambda: [ADMIN_TOKEN, STAN_PASSWORD])

    def caller(self, name: str | None, headers: dict[str, str]) -> Caller:
        return Caller(self, name, TestClient(self.app, headers=headers))


@dataclass
class Caller:
    """One user's client: `call("POST /path", 201, "native jobs.create", json=…)`."""

    script: Script
    name: str | None
    client: TestClient

    def __call__(
        self, request: str, status: int, logged: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send `METHOD path`; `logged` is the "surface action" it must be logged as."""
        method, url = request.split(" ", 1)
        response = self.client.request(method, url, **kwargs)
        assert response.status_code == status, (request, response.text)
        if logged is not None:
            surface, action = logged.split()
            self.script.expected.append((surface, method, action, self.name, status))
        return response


def wait_final(client: TestClient, run_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if client.get(f"/api/v1/runs/{run_id}").json()["status"] in ("completed", "error"):
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def test_a_session_on_every_surface_is_logged_exactly_and_without_secrets(
    client: TestClient, runtime: Runtime, shop_db: Path, tmp_path: Path
) -> None:
    script = Script(client.app)
    admin = script.caller("admin", bearer(ADMIN_TOKEN))

    # --- native: an admin sets up a workspace, users and connections -------------------
    made_team = admin(
        "POST /api/v1/workspaces", 201, "native workspaces.create", json={"name": "team"}
    )
    team = made_team.json()["id"]
    stan_user = {"name": "stan", "workspace_ids": [team], "password": STAN_PASSWORD}
    stan_id = admin("POST /api/v1/users", 201, "native users.create", json=stan_user).json()["id"]
    stan_token = admin(
        f"POST /api/v1/users/{stan_id}/tokens", 201, "native tokens.create", json={}
    ).json()["token"]
    vera_user = {"name": "vera", "role": "viewer"}
    vera_id = admin("POST /api/v1/users", 201, "native users.create", json=vera_user).json()["id"]
    vera_token = admin(
        f"POST /api/v1/users/{vera_id}/tokens",
        201,
        "native tokens.create",
        json={"expires_in_days": 30},
    ).json()["token"]
    script.secrets += [stan_token, vera_token]
    shop = {"name": "shop", "url": f"sqlite:///{shop_db}", "workspace_id": team}
    made_shop = admin("POST /api/v1/connections", 201, "native connections.create", json=shop)
    shop_id = made_shop.json()["id"]
    lake = {"name": "lake", "url": f"duckdb:///{tmp_path / 'lake.duckdb'}", "workspace_id": team}
    admin("POST /api/v1/connections", 201, "native connections.create", json=lake)

    # --- native: a standard user works on a job; a viewer is refused --------------------
    stan = script.caller("stan", bearer(stan_token))
    vera = script.caller("vera", bearer(vera_token))
    export = {
        "name": "orders-export",
        "workspace_id": team,
        "source_connection_id": shop_id,
        "export_format": "csv",
        "external_key": "orders-feed",
        "queries": ["REPLICATE [orders]"],
    }
    job = stan("POST /api/v1/jobs", 201, "native jobs.create", json=export).json()["id"]
    stan(f"PATCH /api/v1/jobs/{job}", 200, "native jobs.update", json={"priority": 5})
    copy = {"query": "REPLICATE [orders_copy] SELECT * FROM orders"}
    task = stan(f"POST /api/v1/jobs/{job}/tasks", 201, "native tasks.create", json=copy)
    stan(f"DELETE /api/v1/jobs/{job}/tasks/{task.json()['id']}", 204, "native tasks.delete")
    refused = {**export, "name": "nope", "external_key": None}
    vera("POST /api/v1/jobs", 403, "native jobs.create", json=refused)
    stan("GET /api/v1/jobs", 200)  # reads are not logged
    vera(f"GET /api/v1/jobs/{job}", 200)

    # --- CData v1: the standard user with Basic user:password ---------------------------
    v1, ws = script.caller("stan", basic("stan", STAN_PASSWORD)), {"workspaceId": team}
    cdata_job = {"JobName": "cdata-copy", "Source": "shop", "Destination": "lake"}
    cdata_job["Query#1"] = "REPLICATE [orders]"
    v1("POST /api.rsc/jobs", 201, "cdata_v1 jobs.create", params=ws, json=cdata_job)
    v1("PUT /api.rsc/jobs('cdata-copy')", 200, "cdata_v1 jobs.update", params=ws,
       json={"Destination": "lake"})  # fmt: skip
    v1("POST /api.rsc/getJobStatus", 200, params=ws, json={"JobName": "cdata-copy"})  # a read
    v1("DELETE /api.rsc/jobs('cdata-copy')", 204, "cdata_v1 jobs.delete", params=ws)

    # --- CData v2: an admin with x-cdata-authtoken --------------------------------------
    v2 = script.caller("admin", {"x-cdata-authtoken": ADMIN_TOKEN})
    v2_job = {
        "Name": "v2-copy",
        "Source-Connection": {"Id": shop_id},
        "Queries": ["REPLICATE [orders]"],
    }
    v2_job["Destination-Connection"] = {"Name": "lake"}
    made = v2(f"POST /api.rsc/v2/workspaces/{team}/jobs", 201, "cdata_v2 jobs.create", json=v2_job)
    v2_id = made.json()["id"]
    v2(f"PUT /api.rsc/v2/jobs/{v2_id}", 200, "cdata_v2 jobs.update", json={"name": "v2-renamed"})
    v2(f"DELETE /api.rsc/v2/jobs/{v2_id}", 204, "cdata_v2 jobs.delete")

    # --- SCAPI: start a process; a datafeed GET starts one too ---------------------------
    start = admin(f"POST /admin/app/scapi/jobs/{job}/start", 200, "scapi jobs.execute")
    process = start.json()["processId"]
    wait_final(client, process)
    admin(f"GET /admin/app/scapi/jobs/{job}/status/{process}", 200)
    feed = "GET /admin/app/scapi/datafeed/synchron/orders-feed/"
    admin(feed, 200, "scapi jobs.execute", params={"sig": QUERY_CANARY})
    script.secrets.append(QUERY_CANARY)

    # --- Elastic: a connector created, renamed, deleted ----------------------------------
    elastic = script.caller("admin", {"Authorization": f"ApiKey {ADMIN_TOKEN}"})
    connector = {"service_type": "custom", "name": "audit-conn", "index_name": "idx-audit"}
    elastic("PUT /_connector/audit-conn", 201, "elastic connectors.put", json=connector)
    elastic("PUT /_connector/audit-conn/_name", 200, "elastic connectors.name", json={"name": "x"})
    elastic("GET /_connector/audit-conn", 200)
    elastic("DELETE /_connector/audit-conn", 200, "elastic connectors.delete")

    # --- JSON:API: an export started, then its sync job deleted --------------------------
    started = admin(
        "POST /sync/exports/export", 202, "jsonapi jobs.execute", json={"definition_id": job}
    )
    run = started.json()["data"]["id"]
    wait_final(client, run)
    admin(f"DELETE /sync/jobs/{run}", 204, "jsonapi runs.delete")

    # --- failed sign-ins; a read without credentials is not one --------------------------
    script.secrets += [WRONG_PASSWORD, WRONG_TOKEN]
    script.caller("stan", basic("stan", WRONG_PASSWORD))(
        "GET /api/v1/jobs", 401, "native signin.failed"
    )
    guess = script.caller(None, bearer(WRONG_TOKEN))
    guess("POST /api/v1/jobs", 401, "native signin.failed", json=export)
    guess_v1 = script.caller(None, {"x-cdata-authtoken": WRONG_TOKEN})
    guess_v1("GET /api.rsc/jobs", 401, "cdata_v1 signin.failed")
    nobody = script.caller("nobody", basic("nobody", WRONG_PASSWORD))
    nobody("GET /_connector", 401, "elastic signin.failed")
    script.caller(None, {})("GET /api/v1/jobs", 401)
    stan(f"DELETE /api/v1/jobs/{job}", 204, "native jobs.delete")

    # --- the log, natively ----------------------------------------------------------------
    listed = client.get("/api/v1/audit", params={"sort": "id", "limit": 1000})
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert listed.json()["total"] == len(script.expected)
    assert [
        (e["surface"], e["method"], e["action"], e["user_name"], e["status"]) for e in items
    ] == script.expected
    by_action = {(e["surface"], e["action"], e["user_name"]): e for e in reversed(items)}
    created = by_action[("native", "jobs.create", "stan")]
    assert (created["target_id"], created["workspace_id"], created["route"]) == (
        job,
        team,
        "/api/v1/jobs",
    )
    assert created["user_id"] == stan_id and created["client"] == "testclient"
    assert by_action[("scapi", "jobs.execute", "admin")]["target_id"] == job
    assert by_action[("native", "jobs.update", "stan")]["route"] == "/api/v1/jobs/{job_id}"
    assert by_action[("native", "tokens.create", "admin")]["workspace_id"] is None
    assert by_action[("elastic", "connectors.name", "admin")]["target_id"] == "audit-conn"
    assert by_action[("jsonapi", "runs.delete", "admin")]["target_id"] == run
    datafeed = next(e for e in items if e["surface"] == "scapi" and e["method"] == "GET")
    assert datafeed["path"] == "/admin/app/scapi/datafeed/synchron/orders-feed/"
    assert datafeed["route"] == "/admin/app/scapi/datafeed/synchron/{external_key}/"

    # --- the log, as CData's request log --------------------------------------------------
    requests = client.get("/api.rsc/requests", params={"$orderby": "Id", "$top": "1000"})
    assert requests.status_code == 200, requests.text
    rows = requests.json()["value"]
    assert [
        (r["Surface"], r["Method"], r["Action"], r["User"], r["Status"]) for r in rows
    ] == script.expected
    assert {"Id", "Timestamp", "URL", "Method", "User", "RemoteIP", "Status", "Error"} <= set(
        rows[0]
    )
    forbidden = next(r for r in rows if r["Status"] == 403)
    assert (forbidden["User"], forbidden["Error"], forbidden["URL"]) == (
        "vera",
        "Forbidden",
        "/api/v1/jobs",
    )

    # --- nothing secret, in the store or in what the log answers -------------------------
    with runtime.engine.connect() as connection:
        stored = repr(connection.execute(text("SELECT * FROM audit_log")).all())
    answered = listed.text + requests.text
    for secret in script.secrets:
        assert secret not in stored and secret not in answered, secret
    assert "?" not in stored  # no query string, ever


def test_filters_and_who_may_read(client: TestClient, runtime: Runtime) -> None:
    admin = client
    ws = admin.post("/api/v1/workspaces", json={"name": "filters"}).json()["id"]
    user = admin.post(
        "/api/v1/users", json={"name": "sam", "workspace_ids": [ws], "password": STAN_PASSWORD}
    ).json()
    sam = TestClient(client.app, headers=basic("sam", STAN_PASSWORD))
    assert sam.post("/api/v1/workspaces", json={"name": "sams"}).status_code == 201
    bad = TestClient(client.app, headers=basic("sam", WRONG_PASSWORD))
    assert bad.get("/api/v1/runs").status_code == 401
    later = dt.datetime.now(dt.UTC)
    assert admin.patch(f"/api/v1/workspaces/{ws}", json={"name": "renamed"}).status_code == 200

    def actions(**params: Any) -> list[str]:
        response = admin.get("/api/v1/audit", params={"sort": "id", **params})
        assert response.status_code == 200, response.text
        return [e["action"] for e in response.json()["items"]]

    assert actions(user="sam") == ["workspaces.create", "signin.failed"]
    assert actions(user=user["id"]) == ["workspaces.create"]
    assert actions(action="signin.failed") == ["signin.failed"]
    assert actions(action__in="users.create,signin.failed") == ["users.create", "signin.failed"]
    assert actions(workspace=ws) == ["workspaces.create", "workspaces.update"]
    assert actions(workspace_id=ws) == actions(workspace=ws)  # the list conventions' name
    assert actions(since=later.isoformat()) == ["workspaces.update"]
    assert actions(until=later.isoformat())[-1] == "signin.failed"
    assert actions(status=401, surface="native") == ["signin.failed"]
    newest = admin.get("/api/v1/audit", params={"limit": 2}).json()
    assert newest["total"] == 5 and newest["limit"] == 2 and newest["offset"] == 0
    assert [e["action"] for e in newest["items"]] == ["workspaces.update", "signin.failed"]
    assert admin.get("/api/v1/audit", params={"colour": "red"}).status_code == 422
    assert admin.get("/api/v1/audit", params={"since": "yesterday"}).status_code == 422
    # Only admins read the log, on both surfaces; CData's filters reach the store.
    assert sam.get("/api/v1/audit").status_code == 403
    assert sam.get("/api.rsc/requests").status_code == 403
    assert sam.get("/api.rsc/requests/$count").status_code == 403
    odata = {"$filter": "User eq 'sam' and Status ge 400", "$select": "Action,Error"}
    selected = admin.get("/api.rsc/requests", params=odata).json()["value"]
    assert [{k: v for k, v in row.items() if k != "Id"} for row in selected] == [
        {"Action": "signin.failed", "Error": "Unauthorized"}
    ]
    assert all(list(row) == ["Id", "Action", "Error"] for row in selected)  # with its key
    contains = {"$filter": "contains(URL, 'workspaces') and Method ne 'PATCH'"}
    assert [
        r["Action"] for r in admin.get("/api.rsc/requests", params=contains).json()["value"]
    ] == [
        "workspaces.create",
        "workspaces.create",
    ]
    counted = admin.get("/api.rsc/requests/$count", params={"$filter": "Status lt 300"})
    assert counted.text == "4"
    paged = admin.get(
        "/api.rsc/requests",
        params={"$orderby": "Id desc", "$top": "1", "$skip": "1", "$count": "true"},
    ).json()
    assert paged["@odata.count"] > 1 and [r["Action"] for r in paged["value"]] == ["signin.failed"]
    # `?workspaceId=` keeps that workspace's entries and the server-wide ones.
    scoped = admin.get("/api.rsc/requests", params={"workspaceId": ws, "$orderby": "Id"}).json()
    assert [r["Action"] for r in scoped["value"]] == [
        "workspaces.create",
        "users.create",
        "signin.failed",
        "workspaces.update",
    ]


def test_cdata_reads_and_deletes_one_request(client: TestClient) -> None:
    client.post("/api/v1/workspaces", json={"name": "one"})
    first = client.get("/api.rsc/requests", params={"$orderby": "Id"}).json()["value"][0]
    key = f"/api.rsc/requests('{first['Id']}')"
    assert client.get(key).json()["Action"] == "workspaces.create"
    assert client.get(f"{key}/Action/$value").text == "workspaces.create"
    assert client.get("/api.rsc/requests('nope')").status_code == 404
    assert client.delete(key).status_code == 204
    assert client.get(key).status_code == 404
    gone = client.get("/api.rsc/requests", params={"$filter": "Action eq 'requests.delete'"})
    assert [r["TargetId"] for r in gone.json()["value"]] == [str(first["Id"])]


def old_entry(created_at: dt.datetime) -> audit.Entry:
    return audit.Entry(
        created_at=created_at,
        surface="native",
        method="POST",
        route="/api/v1/jobs",
        path="/api/v1/jobs",
        action="jobs.create",
        status=201,
    )


def test_retention_deletes_old_entries_unless_kept_forever(runtime: Runtime) -> None:
    now = dt.datetime.now(dt.UTC)
    for days in (400, 366, 10):
        audit.record(runtime.engine, old_entry(now - dt.timedelta(days=days)))
    keep_forever = runtime.settings.model_copy(update={"audit_retention_days": 0})
    assert audit.purge(runtime.factory, keep_forever) == 0
    assert audit.purge(runtime.factory, runtime.settings) == 2  # the default: 365 days
    with runtime.unit() as ctx:
        assert audit.list_(ctx, {}).total == 1


def test_the_api_purges_on_the_cleaners_beat(store_settings: Settings, admin_headers: Any) -> None:
    settings = store_settings.model_copy(
        update={"audit_retention_days": 1, "files_cleanup_interval": 0.2, "workers": 0}
    )
    runtime = Runtime.create(settings)
    runtime.migrate()
    runtime.bootstrap()
    audit.record(runtime.engine, old_entry(dt.datetime.now(dt.UTC) - dt.timedelta(days=2)))
    with TestClient(create_app(runtime), headers=admin_headers) as client:
        deadline = time.monotonic() + 10
        while client.get("/api/v1/audit").json()["total"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/api/v1/audit").json()["total"] == 0
    runtime.close()


def test_every_write_route_has_an_action(client: TestClient) -> None:
    from conveyor.api.audit import ACTIONS, action_of

    routes = {
        (method.upper(), path)
        for path, operations in client.app.openapi()["paths"].items()
        for method in operations
    }
    writes = {(m, p) for m, p in routes if m in ("POST", "PUT", "PATCH", "DELETE")}
    named = {(m, p): action_of(m, p) for m, p in writes}
    assert all(a is None or a.count(".") == 1 for a in named.values()), named
    hidden = {("GET", "/admin/app/scapi/datafeed/synchron/{external_key}")}  # not in OpenAPI
    assert set(ACTIONS) - routes - hidden == set()  # no entry for a route that is not there


def test_migration_0007_up_and_down(store_settings: Settings) -> None:
    runtime = Runtime.create(store_settings)
    try:
        migrate.upgrade(runtime.engine)
        assert "audit_log" in inspect(runtime.engine).get_table_names()
        config = migrate._config(runtime.engine)
        with runtime.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        assert "audit_log" not in inspect(runtime.engine).get_table_names()
        assert migrate.current_revision(runtime.engine) == "0006"
        migrate.upgrade(runtime.engine)
        assert migrate.is_current(runtime.engine)
        indexes = {i["name"] for i in inspect(runtime.engine).get_indexes("audit_log")}
        assert indexes == {
            "ix_audit_log_created_at",
            "ix_audit_log_user_created",
            "ix_audit_log_workspace_created",
            "ix_audit_log_action_created",
        }
    finally:
        runtime.close()


def test_the_migration_matches_the_models(store_settings: Settings) -> None:
    runtime = Runtime.create(store_settings)
    try:
        migrate.upgrade(runtime.engine)
        differences = differences_from_models(runtime.engine, "audit_log")
        assert differences == []
    finally:
        runtime.close()


def test_a_store_that_refuses_the_entry_fails_no_request(
    client: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(text("DROP TABLE audit_log"))
    created = client.post("/api/v1/workspaces", json={"name": "still-made"})
    assert created.status_code == 201  # its work is committed: the answer says so
    assert client.get(f"/api/v1/workspaces/{created.json()['id']}").status_code == 200
    assert "could not record POST /api/v1/workspaces in the audit log" in caplog.text


def test_the_request_log_pages_itself_with_next_links(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conveyor.compat.cdata.odata import requests

    for number in range(5):
        client.post("/api/v1/workspaces", json={"name": f"paged-{number}"})
    monkeypatch.setattr(requests, "PAGE", 2)
    for params in (
        {"$orderby": "Id"},  # applied and paged by the store
        {"$orderby": "Id", "$filter": "contains(URL, 'workspaces')"},  # evaluated here
    ):
        seen: list[int] = []
        url: str | None = "/api.rsc/requests"
        while url is not None:
            body = client.get(url, params=params if not seen else None).json()
            assert len(body["value"]) <= 2
            seen += [row["Id"] for row in body["value"]]
            url = body.get("@odata.nextLink")
        assert len(seen) == 5 and seen == sorted(seen), (params, seen)
    # An explicit $top is the client's page: no next link.
    top = client.get("/api.rsc/requests", params={"$top": "3"}).json()
    assert len(top["value"]) == 3 and "@odata.nextLink" not in top
