"""Real CData Sync v1 clients, replayed against the real server over HTTP.

`reference/cdata-sync-v1-clients.md` records how CData's MCP server (TypeScript, axios)
calls the v1 API: `workspaceId=default` on every URL, `Content-Type: application/json`
even on GET and DELETE, axios' `Accept` and `User-Agent`, ids and booleans as strings,
OData keys `('<encodeURIComponent(key)>')`, and a response parser that takes JSON or
raw text. `McpClient` reproduces that transport; each test replays rows of the client's
call table and asserts the fields the client reads. A second client polls
`getJobStatus` with Basic credentials as fast as it can, as a public C# poller does.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from tests.e2e.server import ADMIN_TOKEN, Server, running_server
from tests.tls_postgres import make_ca

ID_KEYS = frozenset(
    {
        *("TaskId", "JobId", "UserId", "TransformationId", "Id", "HistoryId", "RequestId"),
        *("ConnectionId", "CertificateId", "LogId", "SessionId", "RunId", "ExecutionId"),
        *("InstanceId", "ParentId", "RootId", "taskId", "jobId", "userId", "transformationId"),
        *("id", "historyId"),
    }
)
URI_COMPONENT_SAFE = "-_.!~*'()"  # what encodeURIComponent leaves alone
BIG_NUMBER = re.compile(
    r'"(\w*[Ii]d|Count|Size|Affected|Days|Timeout|Interval|ExpirationDays|Keysize|Runtime|'
    r'Records|Rows|Total|Limit|Offset|Skip|Top|Index|Version|Port|Code|Status)"\s*:\s*(\d{16,})'
)
pytestmark = pytest.mark.xdist_group("cdata_clients")  # the calls build on each other, in order
SLOW_QUERY = (
    "REPLICATE [numbers] WITH RECURSIVE c(n) AS "
    "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 500000000) SELECT n FROM c"
)


class ApiError(Exception):
    """A non-2xx answer, as axios raises it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code}: {response.text[:300]}")
        self.status = response.status_code
        self.body = response.text


class McpClient:
    """The transport of CDataSoftware/cdata-sync-mcp-server's `CDataSyncApiClient`."""

    def __init__(self, base_url: str, headers: dict[str, str], workspace: str = "default") -> None:
        self.workspace = workspace
        self.http = httpx.Client(
            base_url=base_url,
            timeout=30,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/plain, */*",
                "User-Agent": "axios/1.7.9",
                **headers,
            },
        )

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"{path}{separator}workspaceId={quote(self.workspace, safe='')}"

    @staticmethod
    def encode(body: dict[str, Any]) -> str:
        return json.dumps(
            {k: str(v) if k in ID_KEYS and v is not None else v for k, v in body.items()}
        )

    @staticmethod
    def parse(response: httpx.Response) -> Any:
        text = BIG_NUMBER.sub(lambda m: f'"{m.group(1)}":"{m.group(2)}"', response.text)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return response.text

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        content = self.encode(body) if body is not None and method != "GET" else None
        response = self.http.request(method, self.url(path), content=content)
        if response.status_code >= 400:
            raise ApiError(response)
        return self.parse(response)

    def get(self, path: str, **params: str) -> Any:
        return self.call("GET", f"{path}?{urlencode(params)}" if params else path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("PUT", path, body)

    def delete(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("DELETE", path, body)


def key(collection: str, value: str) -> str:
    """`buildEntityEndpoint`: OData key syntax with an encodeURIComponent'ed key."""
    return f"/{collection}('{quote(value, safe=URI_COMPONENT_SAFE)}')"


def extract_array(result: Any) -> list[Any]:
    if isinstance(result, list):
        return result
    if isinstance(result, dict) and isinstance(result.get("value"), list):
        return result["value"]  # type: ignore[no-any-return]
    return [result]


def extract_count(result: Any) -> int:
    if isinstance(result, int):
        return result
    if isinstance(result, str) and result.strip().isdigit():
        return int(result)
    return int(result["@odata.count"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("cdata")) as running:
        yield running


@pytest.fixture(scope="module")
def mcp(server: Server) -> McpClient:
    return McpClient(f"{server.url}/api.rsc", {"x-cdata-authtoken": ADMIN_TOKEN})


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop db.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total DECIMAL(10,2))")
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO orders VALUES (?, ?)", [(i, i * 1.5) for i in range(1, 501)])
    db.commit()
    db.close()
    return path


def test_connection_calls(mcp: McpClient, shop: Path) -> None:
    lake = shop.parent / "lake.duckdb"
    created = mcp.post(
        "/connections",
        {
            "Name": "shop db",
            "ProviderName": "SQLite",
            "ConnectionString": f"Database={shop}",
            "Verbosity": "1",
        },
    )
    assert created["Name"] == "shop db"
    mcp.post(
        "/connections",
        {"Name": "lake", "ProviderName": "DuckDB", "ConnectionString": f"Database={lake}"},
    )
    assert extract_count(mcp.get("/connections/$count")) == 2  # the client's config test
    listed = extract_array(
        mcp.get(
            "/connections",
            **{
                "$filter": "ProviderName eq 'SQLite'",
                "$select": "Name,ProviderName,ConnectionString",
                "$top": "5",
                "$skip": "0",
            },
        )
    )
    assert listed == [
        {"Name": "shop db", "ProviderName": "SQLite", "ConnectionString": f"URL=sqlite:///{shop}"}
    ]
    by_id = extract_array(mcp.get("/connections", **{"$select": "Id"}))  # the count fallback
    assert len(by_id) == 2 and all(isinstance(row["Id"], str) for row in by_id)
    got = mcp.get(key("connections", "shop db"))
    assert got["ProviderName"] == "SQLite" and got["ConnectionState"] == "Untested"
    tested = mcp.post(
        "/testConnection", {"ConnectionName": "shop db", "ProviderName": "SQLite", "Verbosity": "1"}
    )
    assert tested["Status"] == "SUCCESS"
    assert mcp.get(key("connections", "shop db") + "/ConnectionState/$value") == "Connected"
    updated = mcp.put(
        key("connections", "lake"), {"ConnectionString": f"Database={lake}", "Verbosity": "2"}
    )
    assert updated["Name"] == "lake"
    tables = extract_array(
        mcp.post(
            "/getConnectionTables",
            {
                "ConnectionName": "shop db",
                "TableOrView": "ALL",
                "IncludeCatalog": "False",
                "IncludeSchema": "True",
                "TopTable": "10",
                "SkipTable": "0",
            },
        )
    )
    assert sorted(t["TableName"] for t in tables) == ["customers", "orders"]
    columns = extract_array(
        mcp.post("/getConnectionTableColumns", {"ConnectionName": "shop db", "Table": "orders"})
    )
    assert [c["ColumnName"] for c in columns] == ["id", "total"]
    mcp.post(
        "/connections",
        {"Name": "spare", "ProviderName": "SQLite", "ConnectionString": f"Database={shop}"},
    )
    assert mcp.delete(key("connections", "spare")) == ""
    with pytest.raises(ApiError) as missing:
        mcp.get(key("connections", "spare"))
    assert missing.value.status == 404


def test_job_calls(mcp: McpClient, server: Server) -> None:
    created = mcp.post(
        "/jobs",
        {
            "JobName": "nightly copy",
            "Source": "shop db",
            "Destination": "lake",
            "Scheduled": "false",
            "ScheduledCron": "0 2 * * *",
            "SendEmailNotification": "false",
            "EmailErrorOnly": "false",
            "NotifyWindowsEvent": "false",
            "Verbosity": "2",
            "TableNamePrefix": "raw_",
            "UseGmtDateTime": "true",
            "TruncateTableData": "false",
            "DropTable": "false",
            "AutoTruncateStrings": "false",
            "ContinueOnError": "true",
            "AlterSchema": "true",
            "BatchSize": "1000",
            "CommandTimeout": "300",
            "SkipDeleted": "false",
            "Type": "1",
            "Query#1": "REPLICATE [orders]",
        },
    )
    for field in ("JobId", "JobName", "Source", "Destination", "Status", "Scheduled"):
        assert field in created
    assert isinstance(created["JobId"], str) and created["Source"] == "shop db"
    jobs = extract_array(
        mcp.get(
            "/jobs",
            **{
                "$filter": "JobName eq 'nightly copy'",
                "$select": "JobId,JobName,Status",
                "$top": "10",
                "$skip": "0",
                "$orderby": "JobName asc",
            },
        )
    )
    assert jobs == [{"JobId": created["JobId"], "JobName": "nightly copy", "Status": "NONE"}]
    assert extract_count(mcp.get("/jobs/$count", **{"$filter": "Status eq 'NONE'"})) == 1
    job = mcp.get(key("jobs", "nightly copy"))
    assert job["JobName"] == "nightly copy" and job["ScheduledCron"] == "0 2 * * *"
    updated = mcp.put(
        key("jobs", "nightly copy"),
        {
            "Source": "shop db",
            "Destination": "lake",
            "Scheduled": "true",
            "ScheduledCron": "0 3 * * *",
        },
    )
    assert updated["Scheduled"] is True and updated["ScheduledCron"] == "0 3 * * *"
    mcp.put(key("jobs", "nightly copy"), {"Scheduled": "false"})
    with pytest.raises(ApiError) as missing:
        mcp.get(key("jobs", "no such job"))
    assert missing.value.status == 404 and json.loads(missing.value.body)["error"]["message"]

    # executeJob: JobId as a string, WaitForResults "true", Timeout "0".
    result = mcp.post(
        "/executeJob",
        {
            "JobId": created["JobId"],
            "JobName": "nightly copy",
            "WaitForResults": "true",
            "Timeout": "0",
        },
    )
    rows = extract_array(result)
    assert [(r["JobName"], r["Status"], r["Query"], r["Detail"]) for r in rows] == [
        ("nightly copy", "SUCCESS", "REPLICATE [orders]", "Completed")
    ]
    assert rows[0]["RunStartDate"] and "Result" in rows[0]
    # getJobStatus: read at the top level, as the MCP client does …
    status = mcp.post(
        "/getJobStatus",
        {"JobId": created["JobId"], "JobName": "nightly copy", "PushOnQuery": "true"},
    )
    assert (status["JobId"], status["JobName"], status["Status"]) == (
        created["JobId"],
        "nightly copy",
        "SUCCESS",
    )
    assert [q["Status"] for q in status["Queries"]] == ["SUCCESS"]
    # … and from `value`, as an OData client does.
    assert (
        extract_array(status)[0]["Status"] == "SUCCESS"
        and extract_array(status)[0]["JobName"] == "nightly copy"
    )
    history = extract_array(
        mcp.get(
            "/history",
            **{
                "$filter": "JobName eq 'nightly copy'",
                "$select": "Id,JobId,JobName,RunStartDate,Status,Details,Runtime,RecordsAffected,LogFile,InstanceId",
                "$top": "5",
                "$skip": "0",
                "$orderby": "RunStartDate desc",
            },
        )
    )
    assert len(history) == 1
    entry = {**history[0], "Id": str(history[0].get("Id") or history[0].get("id"))}
    assert (entry["Status"], entry["RecordsAffected"], entry["JobId"]) == (
        "SUCCESS",
        500,
        created["JobId"],
    )
    assert entry["Id"] == rows[0]["RunId"] and entry["Details"] == "Completed"
    assert (
        extract_count(mcp.get("/history/$count", **{"$filter": "JobName eq 'nightly copy'"})) == 1
    )
    # The same run, through the native API.
    native = server.client.get(f"/api/v1/runs/{entry['Id']}").json()
    assert native["status"] == "completed" and native["stats"]["rows_written"] == 500
    logs = mcp.post("/getlogs", {"JobId": created["JobId"], "JobName": "nightly copy", "Days": "1"})
    assert isinstance(logs, str) and "run completed" in logs
    queried = extract_array(
        mcp.post(
            "/executeQuery",
            {
                "JobId": created["JobId"],
                "JobName": "nightly copy",
                "WaitForResults": "true",
                "Timeout": "0",
                "Query#1": "REPLICATE [orders]",
            },
        )
    )
    assert [r["Status"] for r in queried] == ["SUCCESS"]
    adding = extract_array(
        mcp.post(
            "/getAddingTablesForJob",
            {
                "ConnectionName": "shop db",
                "JobId": created["JobId"],
                "TableOrView": "ALL",
                "IncludeCatalog": "false",
                "IncludeSchema": "false",
                "TopTable": "10",
                "SkipTable": "0",
            },
        )
    )
    assert [t["TableName"] for t in adding] == ["customers"]

    # cancelJob: the response is ignored; a long run is canceled.
    slow = mcp.post(
        "/jobs",
        {"JobName": "slow", "Source": "shop db", "Destination": "lake", "Query#1": SLOW_QUERY},
    )
    started = extract_array(
        mcp.post("/executeJob", {"JobName": "slow", "WaitForResults": "false", "Timeout": "0"})
    )
    assert started[0]["Status"] == "RUNNING"
    mcp.post("/cancelJob", {"JobId": slow["JobId"], "JobName": "slow"})
    deadline = time.monotonic() + 60
    while (
        mcp.post("/getJobStatus", {"JobName": "slow", "PushOnQuery": "true"})["Status"] == "RUNNING"
    ):
        assert time.monotonic() < deadline, "the canceled run did not stop"
        time.sleep(0.2)
    assert mcp.post("/getJobStatus", {"JobName": "slow"})["Status"] == "CANCELLED"
    assert mcp.delete(key("jobs", "slow")) == ""


def test_task_calls(mcp: McpClient) -> None:
    mcp.post(
        "/jobs",
        {
            "JobName": "tasks job",
            "Source": "shop db",
            "Destination": "lake",
            "Query#1": "REPLICATE [orders]",
        },
    )
    created = mcp.post(
        "/tasks", {"JobName": "tasks job", "Query": "REPLICATE [customers]", "Index": "1"}
    )
    assert created["Index"] == 1 and isinstance(created["TaskId"], str)
    alternate = mcp.put(key("tasks", "tasks job"), {"Table": "orders_copy", "Index": "0"})
    assert alternate["Query"] == "REPLICATE [orders_copy]" and alternate["Index"] == 0
    listed = extract_array(
        mcp.get(
            "/tasks",
            **{
                "$filter": "JobName eq 'tasks job'",
                "$select": "TaskId,Index,Table",
                "$top": "10",
                "$skip": "0",
            },
        )
    )
    assert [t["Table"] for t in listed] == ["orders_copy", "orders", "customers"]
    assert extract_count(mcp.get("/tasks/$count", **{"$filter": "JobName eq 'tasks job'"})) == 3
    of_job = extract_array(mcp.get(key("tasks", "tasks job"), **{"$select": "Query"}))
    assert of_job[0] == {"TaskId": of_job[0]["TaskId"], "Query": "REPLICATE [orders_copy]"}
    first = extract_array(
        mcp.get(
            "/tasks", **{"$filter": f"JobName eq 'tasks job' and TaskId eq '{created['TaskId']}'"}
        )
    )[0]
    assert first["Query"] == "REPLICATE [customers]" and first["JobName"] == "tasks job"
    updated = mcp.put(
        "/tasks",
        {
            "JobName": "tasks job",
            "TaskId": created["TaskId"],
            "Query": "REPLICATE [customers] SELECT id FROM [customers]",
        },
    )
    assert updated["TaskId"] == created["TaskId"] and updated["Table"] == "customers"
    text = mcp.get(key("tasks", "tasks job") + "/Table/$value")
    assert text.splitlines() == ["orders_copy", "orders", "customers"]
    mcp.delete(f"/tasks?{urlencode({'JobName': 'tasks job', 'TaskId': created['TaskId']})}")
    assert extract_count(mcp.get("/tasks/$count", **{"$filter": "JobName eq 'tasks job'"})) == 2
    assert mcp.delete(key("jobs", "tasks job")) == ""


def test_transformation_user_and_workspace_calls(mcp: McpClient, server: Server) -> None:
    made = mcp.post(
        "/transformations",
        {
            "TransformationName": "totals",
            "Connection": "lake",
            "TransformationTriggerMode": "Scheduled",
            "ScheduledCron": "0 4 * * *",
            "SendEmailNotification": "false",
            "EmailErrorOnly": "false",
            "Verbosity": "2",
            "Query#1": "CREATE OR REPLACE TABLE totals AS SELECT 1 AS n",
            "CommandTimeout": "60",
            "AutomaticJobRetry": "false",
        },
    )
    assert made["TransformationName"] == "totals" and isinstance(made["TransformationId"], str)
    assert extract_count(mcp.get("/transformations/$count")) == 1
    assert extract_array(
        mcp.get("/transformations", **{"$select": "TransformationName,Connection"})
    ) == [{"TransformationName": "totals", "Connection": "lake"}]
    assert mcp.get(key("transformations", "totals"))["TransformationTriggerMode"] == "Scheduled"
    assert mcp.get(key("transformations", "totals") + "/Connection/$value") == "lake"
    changed = mcp.put(
        key("transformations", "totals"),
        {"TransformationTriggerMode": "None", "Query#1": "SELECT 1"},
    )
    assert changed["TransformationTriggerMode"] == "None"
    assert mcp.delete(key("transformations", "totals")) == ""

    user = mcp.post(
        "/users",
        {
            "User": "analyst",
            "Password": "analyst password",
            "Roles": "cdata_standard",
            "Active": True,
        },
    )
    assert (user["User"], user["Roles"], user["Active"]) == ("analyst", "cdata_standard", True)
    mcp.post(
        "/createUsers",
        {
            "User#1": "u1",
            "Password#1": "password one",
            "Roles#1": "cdata_job_creator",
            "Active#1": "true",
            "User#2": "u2",
            "Password#2": "password two",
            "Roles#2": "cdata_support",
            "Active#2": "false",
        },
    )
    assert extract_count(mcp.get("/users/$count")) == 4
    assert mcp.get(key("users", "u2") + "/Active/$value") is False  # JSON.parse("false")
    assert mcp.get(key("users", "analyst"))["UserId"]
    assert (
        mcp.put(
            key("users", "u2"),
            {"User": "u2", "Password": "password three", "Roles": "cdata_standard", "Active": True},
        )["Active"]
        is True
    )
    # Basic user:password, as CDATA_USERNAME / CDATA_PASSWORD configure the client.
    basic = base64.b64encode(b"u2:password three").decode()
    as_u2 = McpClient(f"{server.url}/api.rsc", {"Authorization": f"Basic {basic}"})
    assert extract_count(as_u2.get("/jobs/$count")) >= 1

    made_ws = mcp.post("/workspaces", {"Name": "team space"})
    found = mcp.get(key("workspaces", "team space"))
    assert found["Id"] == made_ws["Id"]
    assert mcp.put("/workspaces", {"Id": found["Id"], "Name": "team"})["Name"] == "team"
    assert (
        len(extract_array(mcp.get("/workspaces"))) == 2
        and extract_count(mcp.get("/workspaces/$count")) == 2
    )
    assert mcp.delete("/workspaces", {"Id": found["Id"]}) == ""
    assert extract_count(mcp.get("/workspaces/$count")) == 1
    # The API request log is the audit log: the user changes above are in it (server-wide
    # entries, so `workspaceId=default` shows them), without the passwords they carried.
    wrong = base64.b64encode(b"foo:not-the-password-77").decode()
    with pytest.raises(ApiError) as refused:
        McpClient(f"{server.url}/api.rsc", {"Authorization": f"Basic {wrong}"}).get("/jobs")
    assert refused.value.status == 401
    changes = mcp.get("/requests", **{"$filter": "Action eq 'users.update'", "$orderby": "Id"})
    [change] = extract_array(changes)
    assert (change["Method"], change["URL"], change["User"], change["Status"]) == (
        "PUT",
        "/api.rsc/users('u2')",
        "admin",
        200,
    )
    assert change["RemoteIP"] == "127.0.0.1" and change["Action"] == "users.update"
    failed = extract_array(mcp.get("/requests", **{"$filter": "Action eq 'signin.failed'"}))
    assert (failed[-1]["User"], failed[-1]["Status"], failed[-1]["Error"]) == (
        "foo",
        401,
        "Unauthorized",
    )
    log = mcp.get("/requests")
    secrets = ("analyst password", "password one", "password three", "not-the-password-77")
    for secret in (*secrets, ADMIN_TOKEN):
        assert secret not in json.dumps(log), secret
    total = extract_count(mcp.get("/requests/$count"))
    assert total == len(extract_array(log)) >= 5
    assert mcp.get(key("requests", str(change["Id"])))["Action"] == "users.update"
    assert mcp.delete(key("requests", str(change["Id"]))) == ""
    assert extract_count(mcp.get("/requests/$count")) == total  # one gone, its deletion in
    # listCertificates / createCertificate, as the client sends them.
    ca = make_ca("MCP replay CA")[0]
    created = mcp.post("/certificates", {"Name": "mcp-ca", "Data": ca.certificate})
    assert (created["Name"], created["StoreType"], created["IssuedTo"]) == (
        "mcp-ca",
        "Trusted",
        "MCP replay CA",
    )
    listed = extract_array(mcp.get("/certificates", **{"$select": "Thumbprint"}))
    assert listed == [{"Name": "mcp-ca", "Thumbprint": created["Thumbprint"]}]
    assert extract_count(mcp.get("/certificates/$count")) == 1
    with pytest.raises(ApiError) as refused:
        mcp.post("/certificates", {"Name": "bad", "Data": "-----BEGIN CERTIFICATE-----"})
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["error"]["code"] == "InvalidInput"
    assert mcp.delete(key("certificates", "mcp-ca")) == ""


def test_unauthenticated_calls_get_401(server: Server) -> None:
    for headers in (
        {},
        {"x-cdata-authtoken": "wrong"},
        {"Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()},
    ):
        client = McpClient(f"{server.url}/api.rsc", headers)
        with pytest.raises(ApiError) as denied:
            client.get("/connections/$count")
        assert denied.value.status == 401
        assert json.loads(denied.value.body)["error"]["code"] == "AuthenticationFailed"


def test_status_pollers_with_basic_credentials(mcp: McpClient, server: Server) -> None:
    """joana-jh's poller: one thread per job, POST /getJobStatus {JobName} in a tight loop."""
    mcp.post(
        "/users",
        {"User": "poller", "Password": "poller password", "Roles": "cdata_support", "Active": True},
    )
    mcp.post(
        "/jobs",
        {
            "JobName": "polled",
            "Source": "shop db",
            "Destination": "lake",
            "Query#1": "REPLICATE [orders]",
        },
    )
    mcp.post("/executeJob", {"JobName": "polled", "WaitForResults": "false"})
    basic = base64.b64encode(b"poller:poller password").decode()
    seen: list[str] = []
    failures: list[str] = []
    stop, give_up = time.monotonic() + 3, time.monotonic() + 120

    def polled_enough() -> bool:  # 3 s of polling, or longer while a loaded machine is slow
        return time.monotonic() > stop and len(seen) > 20 and "SUCCESS" in seen

    def poll(job: str) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not polled_enough() and time.monotonic() < give_up:
                response = http.post(
                    "/api.rsc/getJobStatus",
                    content=json.dumps({"JobName": job}),
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Authorization": f"Basic {basic}",
                    },
                )
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    return
                seen.append(response.json()["Status"])
                time.sleep(0.001)

    threads = [
        threading.Thread(target=poll, args=(job,))
        for job in ("polled", "polled", "nightly copy", "polled")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    assert len(seen) > 20 and set(seen) <= {"RUNNING", "SUCCESS"}
    assert "SUCCESS" in seen
