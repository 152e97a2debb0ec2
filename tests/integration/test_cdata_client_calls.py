"""The CData Sync MCP client's calls that Conveyor used to refuse, replayed as it sends
them (issue 20): `ReplicateAll` jobs, `$select` without the key, clearing a
transformation's schedule, `WorkspaceId` on a new user, empty names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN
from tests.integration.test_cdata_v1 import WS, connections, make_job, odata_error

V2 = "/api.rsc/v2"


@pytest.fixture
def cdata(client: TestClient) -> TestClient:
    """The app, called as the MCP client calls it (token header, `workspaceId=default`)."""
    return TestClient(client.app, headers={"x-cdata-authtoken": ADMIN_TOKEN})


def test_replicate_all_is_sync_all_on_v1_and_v2(
    cdata: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    connections(cdata, shop_db, tmp_path)
    job = make_job(cdata, "everything", Type="ReplicateAll")
    assert job["Type"] == "SyncAll"
    body = {
        "Name": "everything v2",
        "Type": "ReplicateAll",
        "Source-Connection": {"Name": "shop"},
        "Destination-Connection": {"Name": "lake"},
    }
    created = cdata.post(f"{V2}/workspaces/default/jobs", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["type"] == "SyncAll"
    refused = cdata.post("/api.rsc/jobs", params=WS, json={"JobName": "x", "Type": "ReplicateNone"})
    assert "ReplicateNone" in odata_error(refused, 400)["message"]


@pytest.mark.parametrize(
    ("path", "select", "key"),
    [
        ("/api.rsc/jobs", "Status", "JobName"),
        ("/api.rsc/jobs", "Type,Scheduled", "JobName"),
        ("/api.rsc/connections", "ProviderName", "Name"),
        ("/api.rsc/users", "Roles", "User"),
        ("/api.rsc/workspaces", "Name", "Id"),
        ("/api.rsc/tasks", "Query", "TaskId"),
        ("/api.rsc/history", "Status", "Id"),
        ("/api.rsc/requests", "Method", "Id"),
    ],
)
def test_a_select_always_returns_the_key(
    cdata: TestClient, shop_db: Path, tmp_path: Path, path: str, select: str, key: str
) -> None:
    connections(cdata, shop_db, tmp_path)
    make_job(cdata)
    cdata.post("/api.rsc/executeJob", json={"JobName": "copy orders", "WaitForResults": "true"})
    rows = cdata.get(path, params={**WS, "$select": select}).json()["value"]
    assert rows, path
    wanted = [key, *select.split(",")]
    assert all(list(row) == wanted for row in rows), rows
    both = cdata.get(path, params={**WS, "$select": f"{select},{key}"}).json()["value"]
    assert all(list(row) == [*select.split(","), key] for row in both)  # not twice


def test_an_empty_scheduled_cron_clears_a_transformations_schedule(
    cdata: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    connections(cdata, shop_db, tmp_path)
    body = {
        "TransformationName": "nightly",
        "Connection": "lake",
        "TransformationTriggerMode": "Scheduled",
        "ScheduledCron": "0 2 * * *",
        "Query#1": "SELECT 1",
    }
    created = cdata.post("/api.rsc/transformations", params=WS, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["ScheduledCron"] == "0 2 * * *"
    cleared = cdata.put("/api.rsc/transformations('nightly')", json={"ScheduledCron": ""})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["ScheduledCron"], cleared.json()["TransformationTriggerMode"]) == (
        "",
        "None",
    )
    kept = cdata.put("/api.rsc/transformations('nightly')", json={"Verbosity": "2"})
    assert kept.json()["ScheduledCron"] == ""  # a field left out is left alone
    rescheduled = cdata.put(
        "/api.rsc/transformations('nightly')",
        json={"TransformationTriggerMode": "Scheduled", "ScheduledCron": "0 3 * * *"},
    )
    assert rescheduled.json()["ScheduledCron"] == "0 3 * * *"
    # like a job's: an empty ScheduledCron clears the job's cron too
    make_job(cdata, "scheduled job", Scheduled="true", ScheduledCron="0 4 * * *")
    job = cdata.put("/api.rsc/jobs('scheduled job')", json={"ScheduledCron": ""})
    assert job.status_code == 200, job.text
    assert (job.json()["ScheduledCron"], job.json()["Scheduled"]) == ("", False)


def _basic(name: str, password: str) -> dict[str, str]:
    import base64

    encoded = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def test_workspace_id_on_a_new_user_restricts_it(
    cdata: TestClient, client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    team = cdata.post("/api.rsc/workspaces", json={"Name": "team"}).json()
    connections(cdata, shop_db, tmp_path)
    make_job(cdata, "default job")
    body: dict[str, Any] = {
        "User": "tess",
        "Password": "tess's password",
        "Roles": "cdata_standard",
        "Active": True,
        "WorkspaceId": team["Id"],
    }
    created = cdata.post("/api.rsc/users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["WorkspaceIds"] == team["Id"]
    tess = TestClient(client.app, headers=_basic("tess", "tess's password"))
    assert tess.get("/api.rsc/jobs").json()["value"] == []  # default's job is not hers
    odata_error(tess.get("/api.rsc/jobs('default job')", params=WS), 404)
    by_name = cdata.post("/api.rsc/users", json={**body, "User": "ned", "WorkspaceId": "team"})
    assert by_name.json()["WorkspaceIds"] == team["Id"]
    unknown = cdata.post("/api.rsc/users", json={**body, "User": "zed", "WorkspaceId": "nowhere"})
    assert "nowhere" in odata_error(unknown, 404)["message"]  # as any v1 create's WorkspaceId
    free = cdata.post("/api.rsc/users", json={**body, "User": "una", "WorkspaceId": None})
    assert free.json()["WorkspaceIds"] == ""
    several = {"User#1": "ada", "Password#1": "ada's password", "WorkspaceId": "team"}
    made = cdata.post("/api.rsc/createUsers", json=several)
    assert made.status_code == 200, made.text
    assert [u["WorkspaceIds"] for u in made.json()["value"]] == [team["Id"]]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api.rsc/users", {"User": "", "Password": "long enough", "Roles": "cdata_standard"}),
        ("/api.rsc/users", {"Name": "", "Password": "long enough"}),
        ("/api.rsc/workspaces", {"Name": ""}),
        ("/api.rsc/workspaces", {"Name": "   "}),
        ("/api.rsc/workspaces", {}),
    ],
)
def test_empty_names_are_400_in_cdatas_error_shape(
    cdata: TestClient, path: str, body: dict[str, Any]
) -> None:
    error = odata_error(cdata.post(path, json=body), 400)
    assert error["code"] != "InternalError"


def test_expired_in_sets_when_the_user_and_their_tokens_expire(
    cdata: TestClient, client: TestClient
) -> None:
    created = cdata.post(
        "/api.rsc/users", json={"User": "eve", "Password": "eve's password", "ExpiredIn": "90"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["ExpiredIn"] == 90
    user_id = created.json()["UserId"]
    token = client.post(f"/api/v1/users/{user_id}/tokens", json={"name": "t"}).json()
    assert token["expires_at"] is not None  # a token never outlives its user
    soon = cdata.put("/api.rsc/users('eve')", json={"ExpiredIn": "30"})
    assert soon.status_code == 200, soon.text
    assert soon.json()["ExpiredIn"] == 30
    user = client.get(f"/api/v1/users/{user_id}").json()
    (listed,) = client.get(f"/api/v1/users/{user_id}/tokens").json()["items"]
    assert listed["expires_at"] == user["expires_at"]  # cut to the user's expiry
    eve = {"x-cdata-authtoken": token["token"]}
    assert TestClient(client.app, headers=eve).get("/api.rsc/jobs").status_code == 200
    assert cdata.put("/api.rsc/users('eve')", json={"ExpiredIn": "-1"}).status_code == 400
    assert cdata.put("/api.rsc/users('eve')", json={"ExpiredIn": "soon"}).status_code == 400

    past = "2020-01-01T00:00:00Z"
    assert client.patch(f"/api/v1/users/{user_id}", json={"expires_at": past}).status_code == 200
    odata_error(TestClient(client.app, headers=eve).get("/api.rsc/jobs"), 401)
    basic = TestClient(client.app, headers=_basic("eve", "eve's password"))
    odata_error(basic.get("/api.rsc/jobs"), 401)

    never = cdata.put("/api.rsc/users('eve')", json={"ExpiredIn": "0"})
    assert never.json()["ExpiredIn"] is None
    assert basic.get("/api.rsc/jobs").status_code == 200  # the user works again
