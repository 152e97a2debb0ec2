"""The reach policy through the API: who may point a connection or an event where."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.config import Settings
from tests.exports_support import is_problem


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """A server with one folder every workspace may use."""
    shared = tmp_path / "shared"
    shared.mkdir()
    return settings.model_copy(update={"allowed_paths": [str(shared)]})


class Team:
    """Two workspaces; an admin, a standard user of workspace A and a viewer of A."""

    def __init__(self, client: TestClient) -> None:
        self.admin = client
        self.a = client.post("/api/v1/workspaces", json={"name": "a"}).json()
        self.b = client.post("/api/v1/workspaces", json={"name": "b"}).json()
        self.standard = self._user("sam", "standard")
        self.viewer = self._user("vic", "viewer")

    def _user(self, name: str, role: str) -> TestClient:
        user = self.admin.post(
            "/api/v1/users", json={"name": name, "role": role, "workspace_ids": [self.a["id"]]}
        ).json()
        token = self.admin.post(f"/api/v1/users/{user['id']}/tokens", json={}).json()["token"]
        return TestClient(self.admin.app, headers={"Authorization": f"Bearer {token}"})

    def connect(self, as_: TestClient, url: str, **extra: Any) -> Any:
        body = {"name": f"c{abs(hash((url, str(extra)))) % 10**8}", "url": url, **extra}
        return as_.post("/api/v1/connections", json={"workspace_id": self.a["id"], **body})


@pytest.fixture
def team(client: TestClient) -> Iterator[Team]:
    yield Team(client)


def sqlite_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    db.execute("INSERT INTO t (v) VALUES ('x')")
    db.commit()
    db.close()
    return path


def test_a_workspace_shows_its_folder_and_its_members_may_use_it(
    team: Team, settings: Settings
) -> None:
    folder = Path(team.a["folder"])
    assert folder == settings.data_dir.resolve() / "workspaces" / team.a["id"]
    created = team.connect(team.standard, f"sqlite:///{sqlite_file(folder / 'mine.db')}")
    assert created.status_code == 201, created.text
    assert created.json()["admin_configured"] is False
    tables = team.standard.get(f"/api/v1/connections/{created.json()['id']}/tables")
    assert [t["name"] for t in tables.json()["items"]] == ["t"]


@pytest.mark.parametrize(
    "where",
    [
        "data/conveyor.db",
        "data/secret.key",
        "data/workspaces/{b}/theirs.db",
        "data/workspaces/{a}/../{b}/theirs.db",
        "data/workspaces/{a}/../../conveyor.db",
    ],
)
def test_the_data_directory_is_refused_to_everyone(
    team: Team, settings: Settings, tmp_path: Path, where: str
) -> None:
    path = tmp_path / where.format(a=team.a["id"], b=team.b["id"])
    for who in (team.admin, team.standard):
        for scheme in ("sqlite", "duckdb"):
            refused = is_problem(team.connect(who, f"{scheme}:///{path}"), 403)
            assert "data directory" in refused["detail"]
    refused = is_problem(team.connect(team.admin, f"file://{path.parent}?format=csv"), 403)


def test_a_standard_user_outside_the_roots_gets_a_403_naming_them(
    team: Team, tmp_path: Path
) -> None:
    outside = sqlite_file(tmp_path / "elsewhere" / "x.db")
    refused = is_problem(team.connect(team.standard, f"sqlite:///{outside}"), 403)
    assert str(tmp_path / "shared") in refused["detail"] and team.a["folder"] in refused["detail"]
    assert refused["allowed_roots"] == [team.a["folder"], str(tmp_path / "shared")]
    inside = sqlite_file(tmp_path / "shared" / "ok.db")
    assert team.connect(team.standard, f"sqlite:///{inside}").status_code == 201
    by_admin = team.connect(team.admin, f"sqlite:///{outside}")
    assert by_admin.status_code == 201 and by_admin.json()["admin_configured"] is True


@pytest.mark.parametrize("url", ["sqlite:///x\0.db", "duckdb:///x\0.duckdb", "file:///x%00y"])
def test_a_nul_in_a_path_is_a_422(team: Team, url: str) -> None:
    assert "NUL" in is_problem(team.connect(team.standard, url), 422)["detail"]


def test_a_symlink_out_of_the_workspace_folder_is_refused(team: Team, settings: Settings) -> None:
    folder = Path(team.a["folder"])
    os.symlink(settings.data_dir.resolve() / "conveyor.db", folder / "link.db")
    for who in (team.admin, team.standard):
        is_problem(team.connect(who, f"sqlite:///{folder / 'link.db'}"), 403)


def test_only_admins_open_folders_to_a_workspace(team: Team, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    refused = team.standard.patch(
        f"/api/v1/workspaces/{team.a['id']}", json={"allowed_paths": [str(extra)]}
    )
    is_problem(refused, 403)
    is_problem(
        team.admin.patch(f"/api/v1/workspaces/{team.a['id']}", json={"allowed_paths": ["rel"]}),
        422,
    )
    opened = team.admin.patch(
        f"/api/v1/workspaces/{team.a['id']}", json={"allowed_paths": [str(extra)]}
    )
    assert opened.json()["allowed_paths"] == [str(extra)]
    assert (
        team.connect(team.standard, f"sqlite:///{sqlite_file(extra / 'x.db')}").status_code == 201
    )


def test_external_access_is_an_admins_switch(team: Team) -> None:
    url = f"duckdb:///{Path(team.a['folder']) / 'x.duckdb'}"
    is_problem(team.connect(team.standard, url, allow_external_access=True), 403)
    opened = team.connect(team.admin, url, allow_external_access=True)
    assert opened.status_code == 201 and opened.json()["allow_external_access"] is True
    cid = opened.json()["id"]
    other = f"duckdb:///{Path(team.a['folder']) / 'y.duckdb'}"
    is_problem(team.standard.patch(f"/api/v1/connections/{cid}", json={"url": other}), 403)
    renamed = team.standard.patch(f"/api/v1/connections/{cid}", json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["allow_external_access"] is True


def test_loopback_servers_need_an_admin_or_a_listing(team: Team) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test"
    refused = is_problem(team.connect(team.standard, url), 403)
    assert "CONVEYOR_ALLOWED_HOSTS" in refused["detail"]
    for host in ("localhost", "[::1]", "0.0.0.0", "10.0.0.1", "169.254.169.254"):
        is_problem(team.connect(team.standard, f"mysql://root@{host}/test"), 403)
    is_problem(team.connect(team.admin, "postgresql://u@169.254.169.254/x"), 403)
    by_admin = team.connect(team.admin, url)
    assert by_admin.status_code == 201
    # Once an admin configured it, the workspace's members use it as it is.
    cid = by_admin.json()["id"]
    assert team.standard.post(f"/api/v1/connections/{cid}/test").json()["ok"] is True
    # … but pointing it elsewhere makes it theirs, and checked as theirs.
    moved = team.standard.patch(
        f"/api/v1/connections/{cid}", json={"url": "postgresql://postgres@127.0.0.2:5432/test"}
    )
    is_problem(moved, 403)


def test_viewers_neither_test_nor_discover(team: Team) -> None:
    path = sqlite_file(Path(team.a["folder"]) / "v.db")
    cid = team.connect(team.admin, f"sqlite:///{path}").json()["id"]
    is_problem(team.viewer.post(f"/api/v1/connections/{cid}/test"), 403)
    is_problem(team.viewer.get(f"/api/v1/connections/{cid}/tables"), 403)
    is_problem(team.viewer.get(f"/api/v1/connections/{cid}/tables/t/columns"), 403)
    assert team.viewer.get(f"/api/v1/connections/{cid}").status_code == 200


def test_event_urls_are_checked_for_who_sets_them(team: Team) -> None:
    folder = Path(team.a["folder"])
    source = team.connect(team.standard, f"sqlite:///{sqlite_file(folder / 's.db')}").json()
    hook = {"url": "http://127.0.0.1:9/hook"}
    job = {
        "name": "j",
        "workspace_id": team.a["id"],
        "source_connection_id": source["id"],
        "export_format": "csv",
        "pre_job_event": hook,
    }
    refused = is_problem(team.standard.post("/api/v1/jobs", json=job), 403)
    assert refused["field"] == "pre_job_event.url"
    created = team.admin.post("/api/v1/jobs", json=job)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    # A standard user may change other fields of the admin's job …
    assert team.standard.patch(f"/api/v1/jobs/{job_id}", json={"priority": 3}).status_code == 200
    # … but not move its event to another loopback service.
    moved = team.standard.patch(
        f"/api/v1/jobs/{job_id}", json={"post_job_event": {"url": "http://localhost:8/x"}}
    )
    is_problem(moved, 403)


def test_the_demo_lives_in_its_workspace_folder(runtime: Any) -> None:
    from conveyor.demo import ensure_demo

    with runtime.unit() as ctx:
        job = ensure_demo(ctx)
    with runtime.unit() as ctx:
        from conveyor.services import connections

        url = connections.get(ctx, job.source_connection_id).url
    assert "/workspaces/demo/" in url
    shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent)


def test_memory_connections_shared_by_every_workspace_are_for_admins(team: Team) -> None:
    refused = is_problem(team.connect(team.standard, "memory://shared"), 403)
    assert refused["field"] == "url"
    assert team.connect(team.admin, "memory://shared").status_code == 201


@pytest.mark.parametrize("url", ["postgresql://u:pw@[::1/db", "memory://u:pw@h:x/db"])
def test_a_malformed_url_is_the_clients_error(team: Team, url: str) -> None:
    refused = is_problem(team.connect(team.admin, url), 422)
    assert "malformed" in refused["detail"]
