"""CData Sync REST API v2, from `reference/cdata-sync-job-management-api-v2.txt`'s point of view.

Every endpoint, each body parameter in CData's spellings, the error paths, and the
consistency of a run across v2, v1 (OData) and the native `/api/v1`.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN
from tests.integration.test_cdata_v1 import hold_pending_run, odata_error

V2 = "/api.rsc/v2"


@pytest.fixture
def v2(client: TestClient) -> TestClient:
    """The app (workers running), with CData's auth header."""
    return TestClient(client.app, headers={"x-cdata-authtoken": ADMIN_TOKEN})


@pytest.fixture
def conns(client: TestClient, shop_db: Path, tmp_path: Path) -> dict[str, str]:
    """Source and destination connections, made through the native API: name -> id."""
    made = {}
    for name, url in (
        ("shop", f"sqlite:///{shop_db}"),
        ("lake", f"duckdb:///{tmp_path / 'lake.duckdb'}"),
    ):
        response = client.post("/api/v1/connections", json={"name": name, "url": url})
        assert response.status_code == 201, response.text
        made[name] = response.json()["id"]
    return made


def create(v2: TestClient, conns: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {
        "Name": "orders",
        "Source-Connection": {"Id": conns["shop"], "Name": "shop"},
        "Destination-Connection": {"Name": "lake"},
        "Queries": ["REPLICATE [orders]"],
        **body,
    }
    response = v2.post(f"{V2}/workspaces/default/jobs", json=payload)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_final(v2: TestClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = v2.get(f"{V2}/jobs/{job_id}/status").json()
        if status["status"] not in ("RUNNING", "NONE"):
            return status  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {status}")


def test_create_with_every_body_parameter(
    v2: TestClient, client: TestClient, conns: dict[str, str]
) -> None:
    # `Pipeline Id` names a real pipeline (by id, or by its name in the workspace).
    pipeline = client.post("/api/v1/pipelines", json={"name": "pipe-1"}).json()
    job = create(
        v2,
        conns,
        Type="Standard",
        Schedule={"Enabled": True, "Cron": "*/5 * * * *"},
        Send_Email=True,
        Email_To="ops@example.com; dba@example.com",
        EmailErrorOnly="True",
        Enable_Parallel_Processing="true",
        Worker_Pool=4,
        Verbosity=3,
        Destination_Schema="main",
        Table_Name_Prefix="raw_",
        Use_GMT_DateTime=True,
        History_Mode=False,
        Truncate_Table_Data=False,
        Drop_Table=False,
        Auto_Truncate_Strings=True,
        Continue_On_Error=True,
        Deletion_Behavior="SoftDelete",
        Alter_Schema=True,
        Replicate_Interval=7,
        Replicate_Interval_Unit="days",
        Replicate_Start_Date="2024-01-01",
        Batch_Size=1000,
        Pre_Job_Event="https://hooks.example.com/before",
        Post_Job_Event={"Url": "https://hooks.example.com/after", "Secret": "hush"},
        Labels=["nightly", "finance"],
        **{"Pipeline Id": "pipe-1"},
    )
    assert job["name"] == "orders" and job["type"] == "Standard" and job["type_number"] == 1
    assert job["source_connection"] == {"id": conns["shop"], "name": "shop"}
    assert job["destination_connection"] == {"id": conns["lake"], "name": "lake"}
    assert job["schedule"] == {"enabled": True, "cron": "*/5 * * * *"}
    assert job["send_email"] is True and job["email_to"] == ["ops@example.com", "dba@example.com"]
    assert job["email_error_only"] is True and job["enable_parallel_processing"] is True
    assert job["worker_pool"] == 4 and job["verbosity"] == 3 and job["destination_schema"] == "main"
    assert job["table_name_prefix"] == "raw_" and job["use_gmt_datetime"] is True
    assert job["auto_truncate_strings"] is True and job["continue_on_error"] is True
    assert job["deletion_behavior"] == "SoftDelete" and job["alter_schema"] is True
    assert (job["replicate_interval"], job["replicate_interval_unit"]) == (7, "days")
    assert job["replicate_start_date"] == "2024-01-01" and job["batch_size"] == 1000
    assert job["pre_job_event"]["url"] == "https://hooks.example.com/before"
    assert job["post_job_event"]["secret"] == "***"
    assert job["labels"] == ["nightly", "finance"] and job["pipeline_id"] == pipeline["id"]
    assert job["status"] == "NONE" and job["tasks_count"] == 1 and job["last_run"] is None
    # The reference's example request, snake_case, ids and a type by name.
    example = v2.post(
        f"{V2}/workspaces/default/jobs",
        json={
            "name": "ReverseETLJob",
            "type": "ReverseETL",
            "source_connection_id": conns["lake"],
            "destination_connection_id": conns["shop"],
        },
    )
    assert example.status_code == 201, example.text
    assert example.json()["type"] == "ReverseETL" and example.json()["type_number"] == 10
    for number, name in ((1, "Standard"), (2, "SyncAll"), (3, "LoadFolder"), (10, "ReverseETL")):
        made = create(v2, conns, Name=f"type {number}", Type=number, Queries=["REPLICATE ALL"])
        assert made["type"] == name
    cdc = v2.post(
        f"{V2}/workspaces/default/jobs",
        json={
            "Name": "cdc",
            "Type": 7,
            "source_connection_id": conns["shop"],
            "destination_connection_id": conns["lake"],
        },
    )
    assert "change" in odata_error(cdc, 400)["message"]
    odata_error(v2.post(f"{V2}/workspaces/default/jobs", json={"Name": "t", "Type": 4}), 400)
    unknown = v2.post(f"{V2}/workspaces/default/jobs", json={"Name": "u", "Colour": "red"})
    assert odata_error(unknown, 400)["field"] == "Colour"
    bad = v2.post(
        f"{V2}/workspaces/default/jobs",
        json={"Name": "b", "Batch_Size": 0, "destination_connection_id": conns["lake"]},
    )
    assert odata_error(bad, 400)["field"] == "Batch_Size"
    odata_error(
        v2.post(
            f"{V2}/workspaces/default/jobs",
            json={"Name": "orders", "destination_connection_id": conns["lake"]},
        ),
        409,
    )
    odata_error(v2.post(f"{V2}/workspaces/nowhere/jobs", json={"Name": "x"}), 404)
    listed = v2.get(f"{V2}/workspaces/default/jobs").json()
    assert listed["count"] == 6 and {j["name"] for j in listed["value"]} >= {
        "orders",
        "ReverseETLJob",
    }
    assert v2.get(f"{V2}/workspaces/Default/jobs").json()["count"] == 6  # by name too
    assert v2.get(f"{V2}/workspaces").json()["value"] == [{"id": "default", "name": "Default"}]


def test_update_and_delete(v2: TestClient, conns: dict[str, str], runtime: Any) -> None:
    job = create(v2, conns, Batch_Size=10)
    # The reference's example request, to the documented path without a slash.
    changed = v2.put(
        f"{V2}/jobs{job['id']}",
        json={"name": "reverseETLJob", "schedule": {"enabled": False, "cron": ""}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "reverseETLJob" and changed.json()["batch_size"] == 10
    more = v2.put(
        f"{V2}/jobs/{job['id']}",
        json={
            "Email_Subject": "done",
            "Email_Error_Only": "true",
            "Verbosity": 5,
            "Cron": "0 3 * * *",
            "Schedule": {"Enabled": True},
        },
    )
    assert more.json()["email_subject"] == "done" and more.json()["email_error_only"] is True
    assert more.json()["schedule"] == {"enabled": True, "cron": "0 3 * * *"}
    assert v2.get(f"{V2}/jobs/{job['id']}").json()["verbosity"] == 5
    assert (
        odata_error(v2.put(f"{V2}/jobs/{job['id']}", json={"Verbosity": 4}), 400)["field"]
        == "Verbosity"
    )
    odata_error(v2.put(f"{V2}/jobs/nope", json={"name": "x"}), 404)
    odata_error(v2.delete(f"{V2}/jobs/nope"), 404)
    run_id = hold_pending_run(runtime, job["id"])
    assert (
        "active"
        in odata_error(v2.put(f"{V2}/jobs/{job['id']}", json={"Batch_Size": 5}), 409)["message"]
    )
    assert odata_error(v2.delete(f"{V2}/jobs{job['id']}"), 409)["active_run_id"] == run_id
    tasks = v2.get(f"{V2}/jobs/{job['id']}/tasks").json()["value"]
    odata_error(v2.delete(f"{V2}/jobs/{job['id']}/tasks/{tasks[0]['id']}"), 409)
    canceled = v2.post(f"{V2}/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "CANCELLED"
    odata_error(v2.post(f"{V2}/jobs/{job['id']}/cancel"), 409)
    assert v2.delete(f"{V2}/jobs{job['id']}").status_code == 204
    odata_error(v2.get(f"{V2}/jobs/{job['id']}"), 404)


def test_tasks(v2: TestClient, conns: dict[str, str]) -> None:
    job = create(v2, conns)
    base = f"{V2}/jobs/{job['id']}/tasks"
    added = v2.post(
        base, json={"query": "REPLICATE [Accounts] SELECT * FROM [orders]", "is_active": True}
    )
    assert (
        added.status_code == 201
        and added.json()["index"] == 1
        and added.json()["table"] == "Accounts"
    )
    second = v2.post(
        base, json={"Query": "REPLICATE [b] SELECT id FROM [orders]", "Is_Active": "false"}
    ).json()
    assert second["is_active"] is False
    listed = v2.get(base).json()
    assert [t["table"] for t in listed["value"]] == ["orders", "Accounts", "b"] and listed[
        "count"
    ] == 3
    task_id = added.json()["id"]
    assert (
        v2.get(f"{base}/{task_id}").json()["query"] == "REPLICATE [Accounts] SELECT * FROM [orders]"
    )
    updated = v2.put(
        f"{base}/{task_id}",
        json={
            "query": "REPLICATE [Accounts] SELECT id FROM [orders]",
            "is_active": True,
            "index": 0,
        },
    )
    assert updated.status_code == 200 and updated.json()["index"] == 0
    moved = v2.post(f"{base}/{task_id}/move", json={"from_index": 0, "to_index": 2})
    assert moved.status_code == 200 and moved.json()["index"] == 2
    assert [t["table"] for t in v2.get(base).json()["value"]] == ["orders", "b", "Accounts"]
    assert (
        odata_error(v2.post(f"{base}/{task_id}/move", json={"from_index": 0, "to_index": 1}), 400)[
            "field"
        ]
        == "from_index"
    )
    bad = v2.post(base, json={"query": "REPLICATE [x] SELECT * FROM"})
    assert odata_error(bad, 400)["position"] == 26
    assert v2.delete(f"{base}/{second['id']}").status_code == 204
    odata_error(v2.get(f"{base}/{second['id']}"), 404)
    odata_error(v2.get(f"{V2}/jobs/nope/tasks"), 404)


def test_execute_history_status_and_consistency_across_surfaces(
    v2: TestClient, client: TestClient, conns: dict[str, str]
) -> None:
    job = create(
        v2,
        conns,
        Queries=["REPLICATE [orders]", "REPLICATE [big] SELECT * FROM [orders] WHERE total > 1000"],
    )
    tasks = v2.get(f"{V2}/jobs/{job['id']}/tasks").json()["value"]
    assert v2.get(f"{V2}/jobs/{job['id']}/status").json() == {
        "job_id": job["id"],
        "job_name": "orders",
        "status": "NONE",
        "run": None,
    }
    started = v2.post(f"{V2}/jobs/{job['id']}/execute")
    assert started.status_code == 200 and started.json()["status"] == "RUNNING"
    status = wait_final(v2, job["id"])
    assert status["status"] == "SUCCESS" and status["run"]["records_affected"] == 1200
    run_id = started.json()["id"]
    history = v2.get(f"{V2}/jobs/{job['id']}/history").json()
    assert [h["id"] for h in history["value"]] == [run_id] and history["count"] == 1
    item = v2.get(f"{V2}/jobs/{job['id']}/history/{run_id}").json()
    assert item["status"] == "SUCCESS" and [t["records_affected"] for t in item["tasks"]] == [
        1000,
        200,
    ]
    assert item["runtime"] >= 0 and item["run_end_date"] is not None
    odata_error(v2.get(f"{V2}/jobs/{job['id']}/history/nope"), 404)
    # The same run through the native API and CData v1.
    native = client.get(f"/api/v1/runs/{run_id}").json()
    assert native["status"] == "completed" and native["stats"]["rows_written"] == 1200
    assert native["stats"]["rows_read"] == item["rows_read"]
    assert run_id in [
        r["id"] for r in client.get("/api/v1/runs", params={"job_id": job["id"]}).json()["items"]
    ]
    v1 = v2.get(
        "/api.rsc/history", params={"workspaceId": "default", "$filter": f"Id eq '{run_id}'"}
    ).json()["value"]
    assert [(h["Status"], h["RecordsAffected"], h["JobId"]) for h in v1] == [
        ("SUCCESS", 1200, job["id"])
    ]
    # Only the second task, in the reference's (bare-key) example body.
    only = v2.post(
        f"{V2}/jobs/{job['id']}/execute",
        content=f'{{\n  tasks:[\n    "{tasks[1]["id"]}"\n  ]\n}}',
        headers={"Content-Type": "application/json"},
    )
    assert only.status_code == 200, only.text
    assert [t["task_id"] for t in only.json()["tasks"]] == [tasks[1]["id"]]
    final = wait_final(v2, job["id"])
    assert final["run"]["id"] == only.json()["id"] and final["run"]["records_affected"] == 200
    last = v2.get(f"{V2}/jobs/{job['id']}/tasks/last-run").json()["value"]
    assert [(r["task"]["id"], r["last_run"]["run_id"]) for r in last] == [
        (tasks[0]["id"], run_id),
        (tasks[1]["id"], only.json()["id"]),
    ]
    task_history = v2.get(f"{V2}/jobs/{job['id']}/tasks/{tasks[1]['id']}/history").json()
    assert [h["run_id"] for h in task_history["value"]] == [only.json()["id"], run_id]
    assert all(h["status"] == "SUCCESS" for h in task_history["value"])
    odata_error(v2.post(f"{V2}/jobs/{job['id']}/execute", json={"tasks": ["nope"]}), 400)
    odata_error(v2.post(f"{V2}/jobs/nope/execute"), 404)


def test_jobs_made_elsewhere_are_listed_everywhere(
    v2: TestClient, client: TestClient, conns: dict[str, str]
) -> None:
    native = client.post(
        "/api/v1/jobs",
        json={
            "name": "native",
            "source_connection_id": conns["shop"],
            "destination_connection_id": conns["lake"],
            "type": "sync_all",
        },
    ).json()
    odata = v2.post(
        "/api.rsc/jobs",
        params={"workspaceId": "default"},
        json={
            "JobName": "odata",
            "Source": "shop",
            "Destination": "lake",
            "Query#1": "REPLICATE [orders]",
        },
    ).json()
    v2_names = {j["name"]: j for j in v2.get(f"{V2}/workspaces/default/jobs").json()["value"]}
    assert set(v2_names) == {"native", "odata"} and v2_names["native"]["type"] == "SyncAll"
    assert v2_names["odata"]["id"] == odata["JobId"]
    native_names = {j["name"] for j in client.get("/api/v1/jobs").json()["items"]}
    assert native_names == {"native", "odata"}
    assert v2.get(f"{V2}/jobs/{native['id']}").json()["source_connection"]["name"] == "shop"
    v1_names = [
        j["JobName"]
        for j in v2.get("/api.rsc/jobs", params={"$orderby": "JobName"}).json()["value"]
    ]
    assert v1_names == ["native", "odata"]


def test_generate_token_and_authentication(v2: TestClient, client: TestClient) -> None:
    bare = TestClient(client.app)
    odata_error(bare.get(f"{V2}/workspaces"), 401)
    odata_error(bare.get(f"{V2}/workspaces", headers={"x-cdata-authtoken": "wrong"}), 401)
    own = v2.post(f"{V2}/users/generate-token")
    assert (
        own.status_code == 200
        and own.json()["user"] == "admin"
        and own.json()["token"].startswith("cvy_")
    )
    # v2: the token is the Basic password, with any user name.
    anyone = base64.b64encode(f"whoever:{own.json()['token']}".encode()).decode()
    assert (
        bare.get(f"{V2}/workspaces", headers={"Authorization": f"Basic {anyone}"}).status_code
        == 200
    )
    v2.post(
        "/api.rsc/users",
        json={"User": "robot", "Password": "robot password", "Roles": "cdata_job_creator"},
    )
    for_robot = v2.post(f"{V2}/users/generate-token", json={"user": "robot", "expires_in_days": 30})
    assert for_robot.json()["user"] == "robot" and for_robot.json()["expires_at"]
    as_robot = bare.get(
        f"{V2}/workspaces", headers={"x-cdata-authtoken": for_robot.json()["token"]}
    )
    assert as_robot.status_code == 200
    # A user with only a password logs in with Basic and gets a token of their own.
    login = base64.b64encode(b"robot:robot password").decode()
    minted = bare.post(f"{V2}/users/generate-token", headers={"Authorization": f"Basic {login}"})
    assert minted.status_code == 200 and minted.json()["user"] == "robot"
    robot = TestClient(client.app, headers={"x-cdata-authtoken": minted.json()["token"]})
    odata_error(robot.post(f"{V2}/users/generate-token", json={"user": "admin"}), 403)
    odata_error(v2.post(f"{V2}/users/generate-token", json={"user": "ghost"}), 404)
