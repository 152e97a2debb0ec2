"""The native API on each metadata store: resources, conventions, auth and runs."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.runtime import Runtime

PROBLEM = "application/problem+json"


def make_job(client: TestClient, shop_db: Path, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    source = client.post(
        "/api/v1/connections", json={"name": "shop", "url": f"sqlite:///{shop_db}"}
    )
    assert source.status_code == 201, source.text
    dest = client.post(
        "/api/v1/connections", json={"name": "lake", "url": f"duckdb:///{tmp_path / 'lake.duckdb'}"}
    )
    assert dest.status_code == 201, dest.text
    body = {
        "name": "copy-orders",
        "source_connection_id": source.json()["id"],
        "destination_connection_id": dest.json()["id"],
        "queries": ["REPLICATE [orders]"],
        **extra,
    }
    job = client.post("/api/v1/jobs", json=body)
    assert job.status_code == 201, job.text
    return job.json()  # type: ignore[no-any-return]


def wait_final(client: TestClient, run_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("completed", "error", "canceled"):
            return run  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def test_health_needs_no_token(client: TestClient) -> None:
    anonymous = TestClient(client.app)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json() == {"status": "ok"}
    assert anonymous.get("/api/v1/jobs").status_code == 401


def test_every_auth_header_form_is_accepted(client: TestClient) -> None:
    from tests.conftest import ADMIN_TOKEN

    bare = TestClient(client.app)
    basic = base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode()
    for headers in (
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        {"x-cdata-authtoken": ADMIN_TOKEN},
        {"Authorization": f"Basic {basic}"},
    ):
        assert bare.get("/api/v1/workspaces", headers=headers).status_code == 200
    wrong_user = base64.b64encode(f"someone:{ADMIN_TOKEN}".encode()).decode()
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": f"Basic {wrong_user}"}):
        response = bare.get("/api/v1/workspaces", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith(PROBLEM)


def test_workspace_crud_and_list_conventions(client: TestClient) -> None:
    for name in ("alpha", "beta", "gamma"):
        assert client.post("/api/v1/workspaces", json={"name": name}).status_code == 201
    page = client.get("/api/v1/workspaces", params={"limit": 2, "sort": "-name"}).json()
    assert page["total"] == 4 and page["limit"] == 2 and page["offset"] == 0
    assert [w["name"] for w in page["items"]] == ["gamma", "beta"]
    # the total holds on every page: a full one, the last, an exact fit and past the end
    for limit, offset, count in ((3, 0, 3), (3, 3, 1), (4, 0, 4), (2, 2, 2), (2, 9, 0)):
        window = client.get("/api/v1/workspaces", params={"limit": limit, "offset": offset})
        assert (len(window.json()["items"]), window.json()["total"]) == (count, 4)
    filtered = client.get("/api/v1/workspaces", params={"name__in": "alpha,beta"}).json()
    assert sorted(w["name"] for w in filtered["items"]) == ["alpha", "beta"]
    bad = client.get("/api/v1/workspaces", params={"colour": "red"})
    assert bad.status_code == 422 and "colour" in bad.json()["detail"]
    assert client.post("/api/v1/workspaces", json={"name": "alpha"}).status_code == 409


def test_unknown_body_fields_are_refused(client: TestClient) -> None:
    response = client.post("/api/v1/workspaces", json={"name": "x", "colour": "red"})
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"].startswith(PROBLEM)
    assert problem["status"] == 422 and problem["errors"][0] == {
        "field": "colour",
        "reason": "unknown field",
    }


def test_connection_secrets_are_masked_and_kept(client: TestClient, tmp_path: Path) -> None:
    created = client.post(
        "/api/v1/connections",
        json={"name": "db", "url": f"sqlite:///{tmp_path / 'a.db'}", "options": {"timeout": 5}},
    )
    assert created.status_code == 201, created.text
    unknown = client.post("/api/v1/connections", json={"name": "x", "url": "oracle://u:p@h/db"})
    assert unknown.status_code == 422 and "oracle" in unknown.json()["detail"]
    assert unknown.json()["field"] == "url"
    bad_option = client.post(
        "/api/v1/connections", json={"name": "y", "url": "sqlite:///x.db", "options": {"nope": 1}}
    )
    assert bad_option.status_code == 422 and "nope" in bad_option.json()["detail"]


def test_connection_test_tables_and_columns(client: TestClient, shop_db: Path) -> None:
    connection = client.post(
        "/api/v1/connections", json={"name": "shop", "url": f"sqlite:///{shop_db}"}
    ).json()
    result = client.post(f"/api/v1/connections/{connection['id']}/test").json()
    assert result["ok"] is True
    tables = client.get(f"/api/v1/connections/{connection['id']}/tables").json()
    assert [t["name"] for t in tables["items"]] == ["orders"]
    columns = client.get(f"/api/v1/connections/{connection['id']}/tables/orders/columns").json()[
        "items"
    ]
    assert [c["name"] for c in columns] == ["id", "customer", "total", "ordered_at"]
    assert columns[0]["primary_key"] is True
    assert columns[2]["type"].startswith("decimal128(10, 2)")
    missing = client.get(f"/api/v1/connections/{connection['id']}/tables/nope/columns")
    assert missing.status_code == 404


def test_a_missing_sqlite_file_is_not_found_by_test_tables_and_columns(
    client: TestClient, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.db"
    connection = client.post(
        "/api/v1/connections", json={"name": "gone", "url": f"sqlite:///{missing}"}
    ).json()
    base = f"/api/v1/connections/{connection['id']}"
    tested = client.post(f"{base}/test").json()
    assert tested["ok"] is False and f"'{missing}' not found" in tested["error"], tested
    for answer in (client.get(f"{base}/tables"), client.get(f"{base}/tables/orders/columns")):
        assert answer.status_code == 502 and f"'{missing}' not found" in answer.json()["detail"]
    assert not missing.exists()


def test_tables_name_their_schema_and_columns_take_it(client: TestClient, shop_db: Path) -> None:
    connection = client.post(
        "/api/v1/connections", json={"name": "shop", "url": f"sqlite:///{shop_db}"}
    ).json()
    base = f"/api/v1/connections/{connection['id']}"
    tables = client.get(f"{base}/tables").json()["items"]
    assert [(t["schema"], t["name"]) for t in tables] == [("main", "orders")]
    for path in ("tables/main.orders/columns", "tables/orders/columns?schema=main"):
        answer = client.get(f"{base}/{path}")
        assert answer.status_code == 200, (path, answer.text)
        assert [c["name"] for c in answer.json()["items"]][:2] == ["id", "customer"]
    assert client.get(f"{base}/tables/main.nope/columns").status_code == 404


def test_job_settings_are_typed_and_validated(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(
        client,
        shop_db,
        tmp_path,
        batch_size=500,
        deletion_behavior="soft_delete",
        schedule={"enabled": True, "cron": "0 * * * *"},
    )
    assert job["batch_size"] == 500 and job["deletion_behavior"] == "soft_delete"
    assert job["schedule"] == {"enabled": True, "cron": "0 * * * *"}
    assert job["tasks_count"] == 1 and job["status"] == "idle"
    patched = client.patch(
        f"/api/v1/jobs/{job['id']}",
        json={"truncate_table_data": True, "email_to": "ops@example.com"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["truncate_table_data"] is True and patched.json()["batch_size"] == 500
    for body, field in (
        ({"worker_pool": 0}, "worker_pool"),
        ({"deletion_behavior": "shred"}, "deletion_behavior"),
        ({"replicate_interval_unit": "fortnights"}, "replicate_interval_unit"),
        ({"schedule": {"enabled": True, "cron": "sometimes"}}, "schedule"),
        ({"send_email": True, "email_to": []}, ""),
        ({"verbosity": 4}, "verbosity"),
    ):
        response = client.patch(f"/api/v1/jobs/{job['id']}", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["detail"]
    cdc = client.post(
        "/api/v1/jobs",
        json={
            "name": "cdc",
            "type": "change_data_capture",
            "source_connection_id": job["source_connection_id"],
            "destination_connection_id": job["destination_connection_id"],
        },
    )
    assert cdc.status_code == 422 and "PostgreSQL" in cdc.json()["detail"], cdc.text


def test_bad_statement_is_refused_with_its_position(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path)
    response = client.post(
        f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [x] SELECT * FROM"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["position"] == 26
    again = client.post(
        "/api/v1/jobs", json={"name": "j2", "export_format": "csv", "queries": ["REPLICATE"]}
    )
    assert again.status_code == 400 and "queries[0]" in again.json()["detail"]


def test_tasks_order_move_and_delete(client: TestClient, shop_db: Path, tmp_path: Path) -> None:
    job = make_job(client, shop_db, tmp_path)
    base = f"/api/v1/jobs/{job['id']}/tasks"
    second = client.post(base, json={"query": "REPLICATE [b] SELECT * FROM [orders]"}).json()
    first = client.post(
        base, json={"query": "REPLICATE [a] SELECT * FROM [orders]", "index": 0}
    ).json()
    assert [t["table"] for t in client.get(base).json()["items"]] == ["a", "orders", "b"]
    moved = client.post(f"{base}/{first['id']}/move", json={"to_index": 2}).json()
    assert moved["index"] == 2
    assert [t["table"] for t in client.get(base).json()["items"]] == ["orders", "b", "a"]
    assert client.delete(f"{base}/{second['id']}").status_code == 204
    assert [(t["table"], t["index"]) for t in client.get(base).json()["items"]] == [
        ("orders", 0),
        ("a", 1),
    ]
    assert client.post(f"{base}/{first['id']}/move", json={"to_index": 9}).status_code == 422


def test_execute_wait_logs_stats_and_history(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(client, shop_db, tmp_path)
    response = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 60})
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "completed", run
    assert run["stats"]["rows_read"] == 1000 and run["stats"]["rows_written"] == 1000
    assert run["progress"] == 1.0 and run["tasks"][0]["status"] == "completed"
    logs = client.get(f"/api/v1/runs/{run['id']}/logs").json()
    assert logs["total"] >= 2 and any("1,000 rows" in line["message"] for line in logs["items"])
    tail = client.get(
        f"/api/v1/runs/{run['id']}/logs", params={"after": logs["items"][0]["id"]}
    ).json()
    assert tail["total"] == logs["total"] - 1
    task_id = run["tasks"][0]["task_id"]
    history = client.get(f"/api/v1/jobs/{job['id']}/tasks/{task_id}/history").json()
    assert history["items"][0]["run_id"] == run["id"]
    last = client.get(f"/api/v1/jobs/{job['id']}/tasks/last-run").json()["items"]
    assert last[0]["last_run"]["rows_written"] == 1000
    status = client.get(f"/api/v1/jobs/{job['id']}/status").json()
    assert status["status"] == "completed"
    import duckdb

    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as lake:
        assert lake.execute('SELECT count(*), sum(total) FROM "orders"').fetchone() == (
            1000,
            625625.0,
        )


def test_execute_answers_202_and_a_second_execute_409(
    runtime: Any, shop_db: Path, tmp_path: Path, admin_headers: dict[str, str]
) -> None:
    # No workers: the first run stays pending, so it is surely active at the second call.
    with TestClient(create_app(runtime, workers=False), headers=admin_headers) as idle:
        job = make_job(idle, shop_db, tmp_path)
        first = idle.post(f"/api/v1/jobs/{job['id']}/execute")
        assert first.status_code == 202 and first.json()["status"] == "pending"
        second = idle.post(f"/api/v1/jobs/{job['id']}/execute")
        assert second.status_code == 409, second.text
        assert second.headers["content-type"].startswith(PROBLEM)
        assert second.json()["active_run_id"] == first.json()["id"]
        assert idle.post(f"/api/v1/runs/{first.json()['id']}/cancel").status_code == 202
        third = idle.post(f"/api/v1/jobs/{job['id']}/execute")  # the job is free again
        assert third.status_code == 202, third.text


def test_cancel_a_pending_run(
    runtime: Any, shop_db: Path, tmp_path: Path, admin_headers: dict[str, str]
) -> None:
    from conveyor.api.app import create_app

    with TestClient(create_app(runtime, workers=False), headers=admin_headers) as idle:
        job = make_job(idle, shop_db, tmp_path)
        run = idle.post(f"/api/v1/jobs/{job['id']}/execute").json()
        assert run["status"] == "pending"
        canceled = idle.post(f"/api/v1/runs/{run['id']}/cancel")
        assert canceled.status_code == 202 and canceled.json()["status"] == "canceled"
        again = idle.post(f"/api/v1/runs/{run['id']}/cancel")
        assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
        assert idle.delete(f"/api/v1/runs/{run['id']}").status_code == 204
        assert idle.get(f"/api/v1/runs/{run['id']}").status_code == 404


def test_roles_and_workspace_isolation(client: TestClient, shop_db: Path, tmp_path: Path) -> None:
    team = client.post("/api/v1/workspaces", json={"name": "team"}).json()
    job = make_job(client, shop_db, tmp_path)
    viewer = client.post("/api/v1/users", json={"name": "vera", "role": "viewer"}).json()
    outsider = client.post(
        "/api/v1/users", json={"name": "olga", "role": "standard", "workspace_ids": [team["id"]]}
    ).json()
    tokens = {
        user["name"]: client.post(f"/api/v1/users/{user['id']}/tokens", json={"name": "t"}).json()[
            "token"
        ]
        for user in (viewer, outsider)
    }
    as_viewer = TestClient(client.app, headers={"Authorization": f"Bearer {tokens['vera']}"})
    assert as_viewer.get(f"/api/v1/jobs/{job['id']}").status_code == 200
    forbidden = as_viewer.patch(f"/api/v1/jobs/{job['id']}", json={"batch_size": 10})
    assert forbidden.status_code == 403 and forbidden.headers["content-type"].startswith(PROBLEM)
    assert as_viewer.post(f"/api/v1/jobs/{job['id']}/execute").status_code == 403
    assert as_viewer.get("/api/v1/users").status_code == 403
    as_outsider = TestClient(client.app, headers={"x-cdata-authtoken": tokens["olga"]})
    assert as_outsider.get(f"/api/v1/jobs/{job['id']}").status_code == 404
    assert as_outsider.post(f"/api/v1/jobs/{job['id']}/execute").status_code == 404
    assert as_outsider.get(f"/api/v1/connections/{job['source_connection_id']}").status_code == 404
    assert as_outsider.get("/api/v1/jobs").json()["total"] == 0
    assert as_outsider.get("/api/v1/users").status_code == 403
    listed = client.get(f"/api/v1/users/{viewer['id']}/tokens").json()["items"]
    assert listed and "token" not in listed[0] and listed[0]["prefix"].startswith("cvy_")


def test_job_with_a_run_in_progress_cannot_change(
    client: TestClient, shop_db: Path, tmp_path: Path, runtime: Any
) -> None:
    job = make_job(client, shop_db, tmp_path)
    from conveyor.services import runs
    from conveyor.services.jobs import get as get_job

    with runtime.unit() as ctx:
        # A run held pending by a far-future schedule: active, but not claimed.
        run = runs.enqueue(ctx, get_job(ctx, job["id"]), None)
        import datetime as dt

        run.scheduled_at = run.scheduled_at + dt.timedelta(days=1)
    assert client.patch(f"/api/v1/jobs/{job['id']}", json={"batch_size": 5}).status_code == 409
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 409
    assert (
        client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [z]"}).status_code
        == 409
    )
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").json()["status"] == "canceled"
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/jobs/{job_id}/execute" in spec["paths"]
    assert "batch_size" in spec["components"]["schemas"]["JobCreate"]["properties"]


def _error_body(operation: dict[str, Any], status: str) -> tuple[str, str]:
    ((media, content),) = operation["responses"][status]["content"].items()
    return media, content["schema"]["$ref"].rsplit("/", 1)[-1]


def test_openapi_documents_each_surface_s_failures_in_its_own_body(client: TestClient) -> None:
    """Every authenticated operation lists the failures it shares with its surface, each in
    the error body that surface's shape answers with (the same registry)."""
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    cases = [
        ("/api/v1/jobs", "post", "application/problem+json", "Problem", "422"),
        (
            "/admin/app/scapi/jobs/{job_id}/start",
            "post",
            "application/problem+json",
            "Problem",
            "422",
        ),
        ("/api.rsc/jobs", "post", "application/json", "CDataError", "400"),
        ("/api.rsc/v2/jobs/{job_id}", "put", "application/json", "CDataError", "400"),
        ("/_connector/{connector_id}", "put", "application/json", "ElasticError", "400"),
        ("/sync/exports/export", "post", "application/vnd.api+json", "JSONAPIErrors", "422"),
    ]
    for path, method, media, schema, invalid in cases:
        operation = paths[path][method]
        for status in ("401", "403", "404", "413", invalid):
            assert _error_body(operation, status) == (media, schema), (path, status)
    assert _error_body(paths["/api/v1/jobs"]["post"], "409")[1] == "Problem"
    assert "422" not in paths["/api.rsc/jobs"]["post"]["responses"]  # CData answers 400
    assert "409" not in paths["/_connector/{connector_id}"]["put"]["responses"]  # Elastic: 400
    assert "401" not in paths["/healthz"]["get"]["responses"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # never answered
    count = paths["/api.rsc/jobs/$count"]["get"]["responses"]["200"]["content"]
    assert list(count) == ["text/plain"]
    listed = {p["name"] for p in paths["/api.rsc/jobs"]["get"]["parameters"]}
    assert {"$filter", "$orderby", "$top", "$skip", "$select", "$count"} <= listed
    index = {p["name"] for p in paths["/sync/jobs"]["get"]["parameters"]}
    assert {"page[number]", "page[size]", "filter[status]", "filter[status__in]"} <= index
    elastic = {p["name"] for p in paths["/_connector/_sync_job"]["get"]["parameters"]}
    assert {"from", "size", "status", "connector_id", "job_type"} <= elastic


def test_a_write_is_committed_before_the_client_hears_of_it(
    runtime: Runtime, admin_headers: dict[str, str], shop_db: Path
) -> None:
    """A 201 means stored: the request's transaction commits before the response starts, so
    the client's next request finds what it created, and a failed commit is never a 201."""
    from sqlalchemy import event

    events: list[str] = []
    app = create_app(runtime, shutdown_grace=5)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start" and scope.get("method") == "POST":
                events.append("response")
            await send(message)

        await app(scope, receive, sending)

    def after_flush(session: Any, _: Any) -> None:  # `new` still lists the flushed rows here
        if any(getattr(o, "name", None) == "committed-first" for o in session.new):
            session.info["ours"] = True

    def after_commit(session: Any) -> None:
        if session.info.pop("ours", False):
            events.append("commit")

    event.listen(runtime.factory, "after_flush", after_flush)
    event.listen(runtime.factory, "after_commit", after_commit)
    try:
        with TestClient(recording, headers=admin_headers) as client:
            created = client.post(
                "/api/v1/connections",
                json={"name": "committed-first", "url": f"sqlite:///{shop_db}"},
            )
    finally:
        event.remove(runtime.factory, "after_flush", after_flush)
        event.remove(runtime.factory, "after_commit", after_commit)
    assert created.status_code == 201, created.text
    assert events == ["commit", "response"]
