"""CData Sync REST API v1 (OData), from the reference documents' point of view.

Every entity set and action of `reference/cdata-sync-rest-api-odata-v1.txt`, the OData
query options, and the error paths, on each metadata store, with runs really executed by
the engine (SQLite → DuckDB).
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN

WS = {"workspaceId": "default"}
JSON = "application/json"


@pytest.fixture
def cdata(client: TestClient) -> TestClient:
    """The app (workers running), called as CData clients call it."""
    return TestClient(client.app, headers={"x-cdata-authtoken": ADMIN_TOKEN})


def connections(cdata: TestClient, shop_db: Path, tmp_path: Path) -> None:
    for name, provider, string in (
        ("shop", "SQLite", f"Database={shop_db}"),
        ("lake", "DuckDB", f"Database={tmp_path / 'lake.duckdb'}"),
    ):
        body = {"Name": name, "ProviderName": provider, "ConnectionString": string}
        response = cdata.post("/api.rsc/connections", params=WS, json=body)
        assert response.status_code == 201, response.text


def make_job(cdata: TestClient, name: str = "copy orders", **extra: Any) -> dict[str, Any]:
    body = {
        "JobName": name,
        "Source": "shop",
        "Destination": "lake",
        "Query#1": "REPLICATE [orders]",
    }
    response = cdata.post("/api.rsc/jobs", params=WS, json={**body, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def odata_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(JSON)
    error = response.json()["error"]
    assert error["code"] and error["message"]
    return error  # type: ignore[no-any-return]


def hold_pending_run(runtime: Any, job_id: str) -> str:
    """An active run that no worker claims (scheduled a day ahead)."""
    from conveyor.services import jobs, runs

    with runtime.unit() as ctx:
        run = runs.enqueue(ctx, jobs.get(ctx, job_id), None)
        run.scheduled_at = run.scheduled_at + dt.timedelta(days=1)
        return str(run.id)


def test_authentication_is_token_or_basic_and_failures_are_401(
    cdata: TestClient, client: TestClient
) -> None:
    bare = TestClient(client.app)
    missing = odata_error(bare.get("/api.rsc/jobs", params=WS), 401)
    assert missing["code"] == "AuthenticationFailed"
    assert odata_error(bare.get("/api.rsc/jobs", headers={"x-cdata-authtoken": "nope"}), 401)
    basic_token = base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode()
    assert (
        bare.get("/api.rsc/jobs", headers={"Authorization": f"Basic {basic_token}"}).status_code
        == 200
    )
    created = cdata.post(
        "/api.rsc/users",
        params=WS,
        json={
            "User": "ops",
            "Password": "correct horse",
            "Roles": "cdata_standard",
            "Active": True,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["Roles"] == "cdata_standard" and "Password" not in created.json()
    good = base64.b64encode(b"ops:correct horse").decode()
    for _ in range(2):  # the second check is answered from the verified-credentials cache
        assert (
            bare.get("/api.rsc/jobs", headers={"Authorization": f"Basic {good}"}).status_code == 200
        )
    wrong = base64.b64encode(b"ops:wrong horse").decode()
    odata_error(bare.get("/api.rsc/jobs", headers={"Authorization": f"Basic {wrong}"}), 401)
    nobody = base64.b64encode(b"nobody:correct horse").decode()
    odata_error(bare.get("/api.rsc/jobs", headers={"Authorization": f"Basic {nobody}"}), 401)
    # The native API keeps its own error shape.
    native = bare.get("/api/v1/jobs")
    assert native.status_code == 401 and native.headers["content-type"].startswith(
        "application/problem+json"
    )
    # A weak password is refused; a support user (a viewer here) may read but not write.
    weak = cdata.post("/api.rsc/users", json={"User": "weak", "Password": "short"})
    assert odata_error(weak, 400)["field"] == "password"
    cdata.post(
        "/api.rsc/users",
        json={"User": "viewer", "Password": "long enough", "Roles": "cdata_support"},
    )
    viewer = base64.b64encode(b"viewer:long enough").decode()
    as_viewer = TestClient(client.app, headers={"Authorization": f"Basic {viewer}"})
    assert as_viewer.get("/api.rsc/jobs").status_code == 200
    assert odata_error(as_viewer.post("/api.rsc/workspaces", json={"Name": "x"}), 403)


def test_connections_entity_set(cdata: TestClient, shop_db: Path, tmp_path: Path) -> None:
    connections(cdata, shop_db, tmp_path)
    pg = cdata.post(
        "/api.rsc/connections",
        params=WS,
        json={
            "Name": "warehouse",
            "ProviderName": "PostgreSQL",
            "ConnectionString": "Server=db.internal;Port=5432;Database=dw;User=etl;Password=s3cret!",
            "Verbosity": "2",
        },
    )
    assert pg.status_code == 201, pg.text
    shown = pg.json()
    assert shown["ProviderName"] == "PostgreSQL" and "s3cret" not in pg.text
    assert shown["ConnectionString"] == "URL=postgresql://etl:***@db.internal:5432/dw"
    assert shown["ConnectionState"] == "Untested" and shown["Id"]
    duplicate = cdata.post(
        "/api.rsc/connections",
        json={"Name": "shop", "ProviderName": "SQLite", "ConnectionString": "Database=x.db"},
    )
    odata_error(duplicate, 409)
    listed = cdata.get(
        "/api.rsc/connections",
        params={**WS, "$select": "Name,ProviderName", "$orderby": "Name desc"},
    )
    assert listed.json()["value"] == [
        {"Name": "warehouse", "ProviderName": "PostgreSQL"},
        {"Name": "shop", "ProviderName": "SQLite"},
        {"Name": "lake", "ProviderName": "DuckDB"},
    ]
    assert listed.json()["@odata.context"].endswith("/api.rsc/$metadata#connections")
    count = cdata.get(
        "/api.rsc/connections/$count", params={**WS, "$filter": "ProviderName ne 'PostgreSQL'"}
    )
    assert count.text == "2" and count.headers["content-type"].startswith("text/plain")
    one = cdata.get("/api.rsc/connections('warehouse')", params=WS).json()
    assert one["Name"] == "warehouse" and "s3cret" not in str(one)
    raw = cdata.get("/api.rsc/connections('warehouse')/ConnectionString/$value", params=WS)
    assert raw.text == "URL=postgresql://etl:***@db.internal:5432/dw"
    # Sending the masked string back keeps the stored password; a new string replaces it.
    same = cdata.put(
        "/api.rsc/connections('warehouse')", params=WS, json={"ConnectionString": raw.text}
    )
    assert same.status_code == 200 and same.json()["ConnectionString"] == raw.text
    moved = cdata.put(
        "/api.rsc/connections('warehouse')",
        json={"ConnectionString": "Server=db2;Database=dw;User=etl;Password=other"},
    )
    assert moved.json()["ConnectionString"] == "URL=postgresql://etl:***@db2/dw"
    assert cdata.delete("/api.rsc/connections('warehouse')", params=WS).status_code == 204
    odata_error(cdata.get("/api.rsc/connections('warehouse')", params=WS), 404)
    bad = cdata.post(
        "/api.rsc/connections",
        json={"Name": "sf", "ProviderName": "Salesforce", "ConnectionString": "User=a"},
    )
    assert "Salesforce" in odata_error(bad, 400)["message"]


def test_connection_actions(cdata: TestClient, shop_db: Path, tmp_path: Path) -> None:
    connections(cdata, shop_db, tmp_path)
    tested = cdata.post("/api.rsc/testConnection", params=WS, json={"ConnectionName": "shop"})
    assert tested.status_code == 200 and tested.json()["Status"] == "SUCCESS"
    assert tested.json()["value"][0]["ConnectionName"] == "shop"
    assert cdata.get("/api.rsc/connections('shop')/ConnectionState/$value").text == "Connected"
    cdata.post(
        "/api.rsc/connections",
        json={
            "Name": "gone",
            "ProviderName": "SQLite",
            "ConnectionString": f"Database={tmp_path / 'no' / 'x.db'};create=false",
        },
    )
    failed = cdata.post("/api.rsc/testConnection", json={"ConnectionName": "gone"})
    assert odata_error(failed, 400)["code"] == "ConnectionTestFailed"
    assert cdata.get("/api.rsc/connections('gone')/ConnectionState/$value").text == "Failed"
    tables = cdata.post(
        "/api.rsc/getConnectionTables",
        params=WS,
        json={
            "ConnectionName": "shop",
            "TableOrView": "ALL",
            "IncludeCatalog": "False",
            "IncludeSchema": "False",
            "TopTable": "10",
            "SkipTable": "0",
        },
    )
    assert [t["TableName"] for t in tables.json()["value"]] == ["orders"]
    assert tables.json()["value"][0]["TableType"] == "TABLE"
    views = cdata.post(
        "/api.rsc/getConnectionTables", json={"ConnectionName": "shop", "TableOrView": "VIEWS"}
    )
    assert views.json()["value"] == []
    columns = cdata.post(
        "/api.rsc/getConnectionTableColumns",
        params=WS,
        json={"ConnectionName": "shop", "Table": "orders"},
    )
    cols = columns.json()["value"]
    assert [c["ColumnName"] for c in cols] == ["id", "customer", "total", "ordered_at"]
    assert cols[0]["IsKey"] is True and cols[2]["DataType"].upper().startswith("DECIMAL")
    odata_error(
        cdata.post(
            "/api.rsc/getConnectionTableColumns", json={"ConnectionName": "shop", "Table": "nope"}
        ),
        404,
    )
    odata_error(cdata.post("/api.rsc/testConnection", json={"ConnectionName": "unknown"}), 404)


def test_a_missing_sqlite_file_fails_its_test_and_tables_name_their_schema(
    cdata: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    connections(cdata, shop_db, tmp_path)
    missing = tmp_path / "missing.db"
    body = {"Name": "missing", "ProviderName": "SQLite", "ConnectionString": f"Database={missing}"}
    assert cdata.post("/api.rsc/connections", params=WS, json=body).status_code == 201
    failed = cdata.post("/api.rsc/testConnection", params=WS, json={"ConnectionName": "missing"})
    error = odata_error(failed, 400)
    assert error["code"] == "ConnectionTestFailed" and f"'{missing}' not found" in error["message"]
    listed = cdata.post(
        "/api.rsc/getConnectionTables", params=WS, json={"ConnectionName": "missing"}
    )
    assert f"'{missing}' not found" in odata_error(listed, 502)["message"]
    assert not missing.exists()

    tables = cdata.post(
        "/api.rsc/getConnectionTables",
        params=WS,
        json={"ConnectionName": "shop", "IncludeSchema": "True", "Schema": "main"},
    )
    # The default schema is named beside the table, not in its name (as CData's client reads it).
    assert [(t["TableName"], t["SchemaName"]) for t in tables.json()["value"]] == [
        ("orders", "main")
    ]
    columns = cdata.post(
        "/api.rsc/getConnectionTableColumns",
        params=WS,
        json={"ConnectionName": "shop", "Table": "main.orders"},
    )
    assert columns.json()["value"][0]["ColumnName"] == "id"


def test_jobs_entity_set_with_odata_options(
    cdata: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    connections(cdata, shop_db, tmp_path)
    job = make_job(
        cdata,
        Scheduled="true",
        ScheduledCron="0 * * * *",
        SendEmailNotification="true",
        NotifyEmailTo="ops@example.com",
        NotifyEmailSubject="copy",
        EmailErrorOnly="True",
        NotifyWindowsEvent="false",
        Verbosity="3",
        TableNamePrefix="raw_",
        UseGmtDateTime="true",
        TruncateTableData="false",
        DropTable="false",
        AutoTruncateStrings="true",
        ContinueOnError="true",
        AlterSchema="true",
        ReplicateInterval="1",
        ReplicateIntervalUnit="days",
        ReplicateStartDate="2024-01-01",
        BatchSize="500",
        CommandTimeout="60",
        SkipDeleted="true",
        Type="1",
        **{"Query#2": "REPLICATE [big_orders] SELECT * FROM [orders] WHERE total > 100"},
    )
    assert job["JobId"] and job["Status"] == "NONE" and job["Type"] == "Standard"
    assert job["Scheduled"] is True and job["ScheduledCron"] == "0 * * * *"
    assert (
        job["BatchSize"] == 500
        and job["DeletionBehavior"] == "SkipDelete"
        and job["SkipDeleted"] is True
    )
    assert job["ReplicateStartDate"] == "2024-01-01" and job["Verbosity"] == 3
    make_job(cdata, "sync everything", Type="SyncAll", **{"Query#1": "REPLICATE ALL"})
    page = cdata.get(
        "/api.rsc/jobs",
        params={
            **WS,
            "$filter": "Scheduled eq true or startswith(JobName, 'sync')",
            "$select": "JobName,Type",
            "$orderby": "JobName",
            "$top": "1",
            "$skip": "1",
            "$count": "true",
        },
    ).json()
    assert page["value"] == [{"JobName": "sync everything", "Type": "SyncAll"}]
    assert page["@odata.count"] == 2
    assert (
        cdata.get("/api.rsc/jobs/$count", params={**WS, "$filter": "Type eq 'Standard'"}).text
        == "1"
    )
    bad = cdata.get("/api.rsc/jobs", params={**WS, "$filter": "JobName eq 'x' and (Status eq"})
    error = odata_error(bad, 400)
    assert error["position"] == 29 and "position 29" in error["message"]
    assert (
        "Colour"
        in odata_error(cdata.get("/api.rsc/jobs", params={"$select": "Colour"}), 400)["message"]
    )
    got = cdata.get("/api.rsc/jobs('copy orders')", params=WS).json()
    assert got["JobId"] == job["JobId"] and got["@odata.context"].endswith("#jobs/$entity")
    assert cdata.get("/api.rsc/jobs('copy orders')/BatchSize/$value").text == "500"
    assert cdata.get("/api.rsc/jobs('copy orders')/Scheduled").json()["value"] is True
    assert cdata.get(f"/api.rsc/jobs({job['JobId']})/JobName/$value").text == "copy orders"
    odata_error(cdata.get("/api.rsc/jobs('copy orders')/Colour/$value"), 404)
    odata_error(cdata.get("/api.rsc/jobs('no such job')", params=WS), 404)
    changed = cdata.put(
        "/api.rsc/jobs('copy orders')", params=WS, json={"Scheduled": "false", "BatchSize": "50"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["Scheduled"] is False and changed.json()["ScheduledCron"] == "0 * * * *"
    patched = cdata.patch("/api.rsc/jobs('copy orders')", json={"DeletionBehavior": "SoftDelete"})
    assert patched.json()["DeletionBehavior"] == "SoftDelete" and patched.json()["BatchSize"] == 50
    assert (
        odata_error(cdata.put("/api.rsc/jobs('copy orders')", json={"Colour": "red"}), 400)["field"]
        == "Colour"
    )
    assert (
        odata_error(cdata.put("/api.rsc/jobs('copy orders')", json={"BatchSize": "many"}), 400)[
            "field"
        ]
        == "BatchSize"
    )
    assert odata_error(
        cdata.post(
            "/api.rsc/jobs",
            json={
                "JobName": "w",
                "Source": "shop",
                "Destination": "lake",
                "NotifyWindowsEvent": "true",
            },
        ),
        400,
    )
    assert odata_error(
        cdata.post(
            "/api.rsc/jobs",
            json={"JobName": "copy orders", "Source": "shop", "Destination": "lake"},
        ),
        409,
    )
    assert (
        odata_error(
            cdata.post(
                "/api.rsc/jobs", json={"JobName": "x", "Source": "nope", "Destination": "lake"}
            ),
            400,
        )["field"]
        == "Source"
    )
    # A bad second query refuses the whole job: nothing of it is kept.
    half = cdata.post(
        "/api.rsc/jobs",
        json={
            "JobName": "half",
            "Source": "shop",
            "Destination": "lake",
            "Query#1": "REPLICATE [a]",
            "Query#2": "REPLICATE [b] SELECT * FROM",
        },
    )
    assert odata_error(half, 400)["position"] is not None
    odata_error(cdata.get("/api.rsc/jobs('half')"), 404)
    assert cdata.delete("/api.rsc/jobs('sync everything')", params=WS).status_code == 204
    assert cdata.get("/api.rsc/jobs/$count").text == "1"


def test_tasks_entity_set(cdata: TestClient, shop_db: Path, tmp_path: Path) -> None:
    connections(cdata, shop_db, tmp_path)
    job = make_job(cdata)
    added = cdata.post(
        "/api.rsc/tasks",
        params=WS,
        json={
            "JobName": "copy orders",
            "Query": "REPLICATE [b] SELECT * FROM [orders]",
            "Index": "0",
        },
    )
    assert added.status_code == 201, added.text
    assert added.json()["Index"] == 0 and added.json()["Table"] == "b"
    by_table = cdata.put("/api.rsc/tasks('copy orders')", params=WS, json={"Table": "orders"})
    assert by_table.json()["Query"] == "REPLICATE [orders]" and by_table.json()["Index"] == 2
    of_job = cdata.get(
        "/api.rsc/tasks('copy orders')", params={**WS, "$select": "Table,Index"}
    ).json()
    assert [{k: row[k] for k in ("Table", "Index")} for row in of_job["value"]] == [
        {"Table": "b", "Index": 0},
        {"Table": "orders", "Index": 1},
        {"Table": "orders", "Index": 2},
    ]
    assert all(list(row) == ["TaskId", "Table", "Index"] for row in of_job["value"])  # the key
    task_id = added.json()["TaskId"]
    found = cdata.get(
        "/api.rsc/tasks",
        params={**WS, "$filter": f"JobName eq 'copy orders' and TaskId eq '{task_id}'"},
    ).json()["value"]
    assert [t["TaskId"] for t in found] == [task_id] and found[0]["JobId"] == job["JobId"]
    assert cdata.get("/api.rsc/tasks/$count", params=WS).text == "3"
    one = cdata.get(f"/api.rsc/tasks(JobName='copy orders',TaskId='{task_id}')").json()
    assert one["Query"] == "REPLICATE [b] SELECT * FROM [orders]"
    queries = cdata.get("/api.rsc/tasks('copy orders')/Query/$value", params=WS).text
    assert queries.splitlines() == [
        "REPLICATE [b] SELECT * FROM [orders]",
        "REPLICATE [orders]",
        "REPLICATE [orders]",
    ]
    updated = cdata.put(
        "/api.rsc/tasks",
        params=WS,
        json={
            "JobName": "copy orders",
            "TaskId": task_id,
            "Query": "REPLICATE [c] SELECT id FROM [orders]",
        },
    )
    assert updated.status_code == 200 and updated.json()["Table"] == "c"
    bad = cdata.put(
        "/api.rsc/tasks",
        json={"JobName": "copy orders", "TaskId": task_id, "Query": "REPLICATE [c] SELECT FROM"},
    )
    assert odata_error(bad, 400)["position"] is not None
    deleted = cdata.delete(
        "/api.rsc/tasks", params={"JobName": "copy orders", "TaskId": task_id, **WS}
    )
    assert deleted.status_code == 204
    assert cdata.get("/api.rsc/tasks/$count").text == "2"
    odata_error(
        cdata.delete("/api.rsc/tasks", params={"JobName": "copy orders", "TaskId": "nope"}), 404
    )
    odata_error(
        cdata.post("/api.rsc/tasks", json={"JobName": "nope", "Query": "REPLICATE [x]"}), 404
    )


def test_run_a_job_watch_it_and_read_history_and_logs(
    cdata: TestClient, client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    connections(cdata, shop_db, tmp_path)
    job = make_job(
        cdata, **{"Query#2": "REPLICATE [big] SELECT * FROM [orders] WHERE total > 1000"}
    )
    never = cdata.post(
        "/api.rsc/getJobStatus", params=WS, json={"JobName": "copy orders", "PushOnQuery": "true"}
    ).json()
    assert never["Status"] == "NONE" and len(never["Queries"]) == 2
    executed = cdata.post(
        "/api.rsc/executeJob",
        params=WS,
        json={"JobName": "copy orders", "WaitForResults": "true", "Timeout": "120"},
    )
    assert executed.status_code == 200, executed.text
    body = executed.json()
    assert body["@odata.context"].endswith("$metadata#Collection(CData.executeJobOutput)")
    rows = body["value"]
    assert [(r["Query"], r["Status"], r["Detail"]) for r in rows] == [
        ("REPLICATE [orders]", "SUCCESS", "Completed"),
        ("REPLICATE [big] SELECT * FROM [orders] WHERE total > 1000", "SUCCESS", "Completed"),
    ]
    assert [r["RecordsAffected"] for r in rows] == [1000, 200] and rows[0][
        "JobName"
    ] == "copy orders"
    assert rows[0]["RunStartDate"] and rows[0]["Result"] == 1000
    run_id = rows[0]["RunId"]
    status = cdata.post("/api.rsc/getJobStatus", params=WS, json={"JobId": job["JobId"]}).json()
    assert (status["JobId"], status["JobName"], status["Status"]) == (
        job["JobId"],
        "copy orders",
        "SUCCESS",
    )
    assert [q["Status"] for q in status["Queries"]] == ["SUCCESS", "SUCCESS"]
    assert (
        status["value"][0]["JobName"] == "copy orders" and status["value"][0]["Status"] == "SUCCESS"
    )
    every = cdata.post("/api.rsc/getJobStatus", json={}).json()["value"]
    assert [(j["JobName"], j["Status"]) for j in every] == [("copy orders", "SUCCESS")]
    history = cdata.get(
        "/api.rsc/history",
        params={**WS, "$filter": "JobName eq 'copy orders'", "$orderby": "RunStartDate desc"},
    ).json()["value"]
    assert len(history) == 1
    entry = history[0]
    assert (entry["Id"], entry["Status"], entry["RecordsAffected"]) == (run_id, "SUCCESS", 1200)
    assert (
        entry["Runtime"] >= 0
        and entry["Details"] == "Completed"
        and entry["LogFile"].endswith(".log")
    )
    assert (
        cdata.get("/api.rsc/history/$count", params={**WS, "$filter": "Status eq 'FAILED'"}).text
        == "0"
    )
    assert cdata.get(f"/api.rsc/history('{run_id}')").json()["JobId"] == job["JobId"]
    assert cdata.get(f"/api.rsc/history('{run_id}')/RecordsAffected/$value").text == "1200"
    native = client.get(f"/api/v1/runs/{run_id}").json()
    assert native["status"] == "completed" and native["stats"]["rows_written"] == 1200
    for action in ("getJobLog", "getlogs"):
        log = cdata.post(
            f"/api.rsc/{action}", params=WS, json={"JobName": "copy orders", "Days": "1"}
        )
        assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
        assert (
            f"=== run {run_id} of copy orders: SUCCESS ===" in log.text and "1,000 rows" in log.text
        )
    one_run = cdata.post("/api.rsc/getJobLog", json={"RunId": run_id}).text
    assert one_run.startswith(f"=== run {run_id}")
    # Only some queries: executeQuery, by statement.
    subset = cdata.post(
        "/api.rsc/executeQuery",
        params=WS,
        json={
            "JobId": job["JobId"],
            "WaitForResults": "true",
            "Timeout": "0",
            "Query#1": "REPLICATE  [orders]",
        },
    )
    assert [r["Query"] for r in subset.json()["value"]] == ["REPLICATE [orders]"]
    assert subset.json()["value"][0]["Status"] == "SUCCESS"
    unknown = cdata.post(
        "/api.rsc/executeQuery", json={"JobName": "copy orders", "Query#1": "REPLICATE [zzz]"}
    )
    odata_error(unknown, 400)
    odata_error(cdata.post("/api.rsc/executeJob", json={"JobName": "no such job"}), 404)
    odata_error(cdata.post("/api.rsc/executeJob", json={}), 400)


def test_a_job_with_an_active_run_cannot_change_and_can_be_canceled(
    cdata: TestClient, runtime: Any, shop_db: Path, tmp_path: Path
) -> None:
    connections(cdata, shop_db, tmp_path)
    job = make_job(cdata)
    run_id = hold_pending_run(runtime, job["JobId"])
    assert (
        cdata.post("/api.rsc/getJobStatus", json={"JobName": "copy orders"}).json()["Status"]
        == "RUNNING"
    )
    assert odata_error(cdata.put("/api.rsc/jobs('copy orders')", json={"BatchSize": "5"}), 409)
    assert odata_error(cdata.delete("/api.rsc/jobs('copy orders')"), 409)
    assert odata_error(
        cdata.post("/api.rsc/tasks", json={"JobName": "copy orders", "Query": "REPLICATE [z]"}), 409
    )
    started = cdata.post(
        "/api.rsc/executeJob", json={"JobName": "copy orders", "WaitForResults": "false"}
    )
    assert "active" in odata_error(started, 409)["message"]
    canceled = cdata.post("/api.rsc/cancelJob", params=WS, json={"JobName": "copy orders"})
    assert canceled.status_code == 200 and canceled.json()["Status"] == "CANCELLED"
    assert canceled.json()["RunId"] == run_id
    odata_error(cdata.post("/api.rsc/cancelJob", json={"JobId": job["JobId"]}), 409)
    entry = cdata.get(f"/api.rsc/history('{run_id}')").json()
    assert entry["Status"] == "CANCELLED"
    assert cdata.delete("/api.rsc/jobs('copy orders')").status_code == 204


def test_transformations_entity_set_and_execution(
    cdata: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    connections(cdata, shop_db, tmp_path)
    make_job(cdata)
    created = cdata.post(
        "/api.rsc/transformations",
        params=WS,
        json={
            "TransformationName": "summary",
            "Connection": "lake",
            "TransformationTriggerMode": "AfterJob",
            "TriggerAfterJob": "copy orders",
            "Query#1": "CREATE OR REPLACE TABLE summary AS SELECT 1 AS one",
            "SendEmailNotification": "false",
            "AutomaticJobRetry": "true",
        },
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert (
        item["TransformationTriggerMode"] == "AfterJob" and item["TriggerAfterJob"] == "copy orders"
    )
    assert item["Queries"] == ["CREATE OR REPLACE TABLE summary AS SELECT 1 AS one"]
    assert item["AutomaticJobRetry"] is True and item["Connection"] == "lake"
    assert cdata.get("/api.rsc/transformations/$count").text == "1"
    changed = cdata.put(
        "/api.rsc/transformations('summary')",
        json={"TransformationTriggerMode": "None", "Query#1": "SELECT 42"},
    )
    assert changed.json()["TransformationTriggerMode"] == "None" and changed.json()["Queries"] == [
        "SELECT 42"
    ]
    dbt = cdata.put("/api.rsc/transformations('summary')", json={"ProjectPath": "/dbt"})
    assert "dbt" in odata_error(dbt, 400)["message"]
    ran = cdata.post(
        "/api.rsc/executeJob",
        json={"JobName": "summary", "WaitForResults": "true", "Timeout": "60"},
    )
    assert [r["Status"] for r in ran.json()["value"]] == ["SUCCESS"]
    assert cdata.get("/api.rsc/transformations('summary')/Status/$value").text == "SUCCESS"
    assert cdata.delete("/api.rsc/transformations('summary')").status_code == 204
    odata_error(cdata.get("/api.rsc/transformations('summary')"), 404)


def test_users_and_workspaces(cdata: TestClient) -> None:
    made = cdata.post(
        "/api.rsc/createUsers",
        params=WS,
        json={
            "User#1": "ann",
            "Password#1": "ann's password",
            "Roles#1": "cdata_admin",
            "Active#1": "true",
            "User#2": "bob",
            "Password#2": "bob's password",
            "Roles#2": "cdata_job_creator",
            "Active#2": "false",
        },
    )
    assert made.status_code == 200, made.text
    assert [(u["User"], u["Roles"], u["Active"]) for u in made.json()["value"]] == [
        ("ann", "cdata_admin", True),
        ("bob", "cdata_standard", False),
    ]
    again = cdata.post(
        "/api.rsc/createUsers",
        json={
            "User#1": "cid",
            "Password#1": "long enough",
            "User#2": "ann",
            "Password#2": "long enough",
        },
    )
    odata_error(again, 409)
    odata_error(cdata.get("/api.rsc/users('cid')"), 404)  # all or none
    users = cdata.get(
        "/api.rsc/users",
        params={"$filter": "Active eq 'true'", "$select": "User", "$orderby": "User"},
    ).json()
    assert users["value"] == [{"User": "admin"}, {"User": "ann"}]
    assert cdata.get("/api.rsc/users('bob')/Roles/$value").text == "cdata_standard"
    updated = cdata.put(
        "/api.rsc/users('bob')",
        json={"Active": True, "Roles": "cdata_support", "Password": "a new password"},
    )
    assert updated.json()["Active"] is True and updated.json()["Roles"] == "cdata_support"
    assert (
        odata_error(cdata.put("/api.rsc/users('bob')", json={"Roles": "overlord"}), 400)["field"]
        == "Roles"
    )
    # Workspaces: by id or name, keyless update and delete with a JSON body.
    team = cdata.post("/api.rsc/workspaces", json={"Name": "team"}).json()
    assert team["Name"] == "team"
    assert cdata.get("/api.rsc/workspaces('team')").json()["Id"] == team["Id"]
    assert cdata.get("/api.rsc/workspaces('default')").json()["Name"] == "Default"
    renamed = cdata.put("/api.rsc/workspaces", json={"Id": team["Id"], "Name": "squad"})
    assert renamed.json()["Name"] == "squad"
    assert cdata.get("/api.rsc/workspaces/$count").text == "2"
    assert (
        cdata.request("DELETE", "/api.rsc/workspaces", json={"Id": team["Id"]}).status_code == 204
    )
    assert cdata.get("/api.rsc/workspaces/$count").text == "1"


def test_workspace_id_is_honoured(cdata: TestClient, shop_db: Path, tmp_path: Path) -> None:
    connections(cdata, shop_db, tmp_path)
    make_job(cdata)
    team = cdata.post("/api.rsc/workspaces", json={"Name": "team"}).json()["Id"]
    in_team = {"workspaceId": team}
    cdata.post(
        "/api.rsc/connections",
        params=in_team,
        json={"Name": "shop", "ProviderName": "SQLite", "ConnectionString": f"Database={shop_db}"},
    )
    cdata.post(
        "/api.rsc/connections",
        json={
            "Name": "lake",
            "ProviderName": "DuckDB",
            "ConnectionString": f"Database={tmp_path / 't.duckdb'}",
            "WorkspaceId": team,
        },
    )
    same_name = cdata.post(
        "/api.rsc/jobs",
        params=in_team,
        json={
            "JobName": "copy orders",
            "Source": "shop",
            "Destination": "lake",
            "Query#1": "REPLICATE [orders]",
        },
    )
    assert same_name.status_code == 201 and same_name.json()["WorkspaceId"] == team
    assert cdata.get("/api.rsc/jobs/$count", params=in_team).text == "1"
    assert cdata.get("/api.rsc/jobs/$count").text == "2"
    assert cdata.get("/api.rsc/jobs('copy orders')/WorkspaceId/$value", params=in_team).text == team
    assert cdata.get("/api.rsc/jobs('copy orders')/WorkspaceId/$value", params=WS).text == "default"
    odata_error(cdata.get("/api.rsc/jobs", params={"workspaceId": "nowhere"}), 404)


def test_paths_keys_and_unsupported_resources(
    cdata: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    connections(cdata, shop_db, tmp_path)
    for name in ("a/b job", "O'Brien's job", "ünïcode job"):
        make_job(cdata, name)
    assert cdata.get("/API.RSC/Jobs/$COUNT", params=WS).text == "3"
    assert cdata.get("/api.rsc/JOBS('a%2Fb%20job')/JobName/$value").text == "a/b job"
    assert cdata.get("/api.rsc/jobs('O''Brien''s%20job')").json()["JobName"] == "O'Brien's job"
    assert cdata.get("/api.rsc/jobs('%C3%BCn%C3%AFcode%20job')").json()["JobName"] == "ünïcode job"
    assert cdata.get("/api.rsc/jobs(JobName='a%2Fb%20job')").status_code == 200
    assert (
        cdata.post("/api.rsc/GetJobStatus", json={"JobName": "a/b job"}).json()["Status"] == "NONE"
    )
    assert cdata.get("/api.rsc/jobs/", params=WS).status_code == 200
    document = cdata.get("/api.rsc").json()
    assert {s["name"] for s in document["value"]} >= {"jobs", "tasks", "history", "connections"}
    assert cdata.get("/API.RSC/Requests", params=WS).json()["value"]  # the audit log
    assert cdata.get("/api.rsc/certificates").json()["value"] == []  # none stored yet
    assert odata_error(cdata.get("/api.rsc/$metadata"), 501)
    assert odata_error(cdata.get("/api.rsc/nothing-here"), 404)
    assert odata_error(cdata.delete("/api.rsc/users('admin')"), 405)
