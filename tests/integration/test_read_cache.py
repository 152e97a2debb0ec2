"""The read cache in an API process, on each store: a kept answer is served only while it is
still the answer, and only to the caller it was computed for."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from conveyor.api.app import create_app
from conveyor.api.read_cache import CachedReads
from conveyor.runtime import Runtime
from conveyor.schemas.workspaces import WorkspaceCreate
from conveyor.services import workspaces
from conveyor.store.data_version import DataVersion
from tests.integration.test_api import make_job


@pytest.fixture
def api(runtime: Runtime, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """An API process only (no workers, no scheduler), as admin: every statement the store
    runs is one a request asked for."""
    app = create_app(runtime, workers=False, background=False)
    with TestClient(app, headers=admin_headers) as test_client:
        yield test_client


class Statements:
    """Counts the statements the store runs on the engine's pooled connections."""

    def __init__(self, runtime: Runtime) -> None:
        self.count = 0
        event.listen(runtime.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


def as_user(
    api: TestClient, name: str, role: str, workspace_ids: list[str] | None = None
) -> tuple[TestClient, dict[str, Any]]:
    """A client signed in with a new token of a new user, and the token's id."""
    body: dict[str, Any] = {"name": name, "role": role, "workspace_ids": workspace_ids or []}
    user = api.post("/api/v1/users", json=body)
    assert user.status_code == 201, user.text
    token = api.post(f"/api/v1/users/{user.json()['id']}/tokens", json={"name": "t"}).json()
    client = TestClient(api.app, headers={"Authorization": f"Bearer {token['token']}"})
    return client, {"user_id": user.json()["id"], **token}


def cache_of(api: TestClient) -> CachedReads:
    layer: Any = api.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, CachedReads):
        layer = layer.app
    return layer


def test_the_data_version_moves_with_each_commit(runtime: Runtime) -> None:
    versions = DataVersion(runtime.engine)
    try:
        seen = [versions.current()]
        for name in ("one", "two"):
            with runtime.unit() as ctx:
                workspaces.create(ctx, WorkspaceCreate(name=name))
            seen.append(versions.current())
        assert None not in seen and len(set(seen)) == 3
        if runtime.engine.dialect.name == "sqlite":
            # Only commits move it. (PostgreSQL's snapshot is the whole server's: another
            # database's commits move it too, so there it may move without ours.)
            with runtime.unit(read_only=True) as ctx:
                workspaces.list_(ctx, {})
            assert versions.current() == seen[-1]
    finally:
        versions.close()


def test_a_repeated_read_is_answered_without_the_store(api: TestClient, runtime: Runtime) -> None:
    api.get("/api/v1/users")  # the token's first use is noted: a commit
    first = api.get("/api/v1/workspaces", params={"limit": 5})
    assert first.status_code == 200
    statements = Statements(runtime)
    again = api.get("/api/v1/workspaces", params={"limit": 5})
    assert statements.count == 0
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-content-type-options"] == "nosniff"  # the outer layers still run
    other_query = api.get("/api/v1/workspaces", params={"limit": 6})
    assert statements.count > 0 and other_query.json()["limit"] == 6


def test_a_commit_by_another_connection_is_seen_by_the_next_read(
    api: TestClient, runtime: Runtime
) -> None:
    before = api.get("/api/v1/workspaces").json()
    assert api.get("/api/v1/workspaces").json() == before
    # What a worker, the scheduler or another API process does: commit on its own connection.
    with runtime.unit() as ctx:
        workspaces.create(ctx, WorkspaceCreate(name="from-elsewhere"))
    after = api.get("/api/v1/workspaces").json()
    assert after["total"] == before["total"] + 1
    assert "from-elsewhere" in {item["name"] for item in after["items"]}


def test_a_write_through_the_api_is_read_back(
    api: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(api, shop_db, tmp_path)
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["batch_size"] == job["batch_size"]
    changed = api.patch(f"/api/v1/jobs/{job['id']}", json={"batch_size": 1234})
    assert changed.status_code == 200, changed.text
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["batch_size"] == 1234


def test_a_revoked_token_is_refused_at_once(api: TestClient) -> None:
    viewer, token = as_user(api, "vic", "viewer")
    assert viewer.get("/api/v1/workspaces").status_code == 200
    assert viewer.get("/api/v1/workspaces").status_code == 200  # kept
    revoked = api.delete(f"/api/v1/users/{token['user_id']}/tokens/{token['id']}")
    assert revoked.status_code == 204, revoked.text
    assert viewer.get("/api/v1/workspaces").status_code == 401


def test_a_viewer_never_gets_an_admin_s_answer(api: TestClient) -> None:
    viewer, _ = as_user(api, "val", "viewer")
    assert api.get("/api/v1/users").status_code == 200
    assert api.get("/api/v1/users").status_code == 200  # kept for the admin
    assert viewer.get("/api/v1/users").status_code == 403
    assert viewer.get("/api/v1/users").status_code == 403


def test_workspaces_stay_apart(api: TestClient, shop_db: Path, tmp_path: Path) -> None:
    team = api.post("/api/v1/workspaces", json={"name": "team"}).json()
    job = make_job(api, shop_db, tmp_path)
    outsider, _ = as_user(api, "otto", "standard", [team["id"]])
    for _ in range(2):  # computed, then kept
        assert api.get("/api/v1/jobs").json()["total"] == 1
        assert api.get(f"/api/v1/jobs/{job['id']}").status_code == 200
    assert outsider.get("/api/v1/jobs").json()["total"] == 0
    assert outsider.get(f"/api/v1/jobs/{job['id']}").status_code == 404
    seen = {item["id"] for item in outsider.get("/api/v1/workspaces").json()["items"]}
    assert seen == {team["id"]}


def test_a_scheduled_job_is_kept_only_until_its_next_run(
    api: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    job = make_job(api, shop_db, tmp_path, schedule={"enabled": True, "cron": "*/5 * * * *"})
    shown = api.get(f"/api/v1/jobs/{job['id']}").json()
    kept = [a for a in cache_of(api).answers._answers.values() if a.until is not None]
    assert len(kept) == 1
    assert kept[0].until == dt.datetime.fromisoformat(shown["next_run_at"])


def test_reads_from_memory_are_timed_and_not_audited(api: TestClient) -> None:
    audit_before = api.get("/api/v1/audit").json()["total"]
    for _ in range(5):
        assert api.get("/api/v1/workspaces").status_code == 200
    assert api.get("/api/v1/audit").json()["total"] == audit_before
    metrics = api.get("/metrics").text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("conveyor_http_request_duration_seconds_count")
        and 'route="/api/v1/workspaces"' in line
        and 'method="GET"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == 5


def test_without_a_cache_every_read_reaches_the_store(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(update={"read_cache_entries": 0})
    uncached = Runtime.create(settings)
    app = create_app(uncached, workers=False, background=False)
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {settings.admin_token}"}) as client:
            for _ in range(2):  # the second one would be kept, the third served from memory
                assert client.get("/api/v1/workspaces").status_code == 200
            statements = Statements(uncached)
            assert client.get("/api/v1/workspaces").status_code == 200
            assert statements.count > 0
    finally:
        uncached.close()


def test_what_lives_outside_the_store_is_read_every_time(api: TestClient, shop_db: Path) -> None:
    connection = api.post(
        "/api/v1/connections", json={"name": "shop", "url": f"sqlite:///{shop_db}"}
    ).json()
    tables = f"/api/v1/connections/{connection['id']}/tables"
    for _ in range(2):
        assert [t["name"] for t in api.get(tables).json()["items"]] == ["orders"]
    with sqlite3.connect(shop_db) as source:  # a change the store knows nothing of
        source.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    assert [t["name"] for t in api.get(tables).json()["items"]] == ["customers", "orders"]
