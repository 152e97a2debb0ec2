"""`CONVEYOR_ADMIN_TOKEN` only seeds an empty store: a revoked token stays revoked."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from tests.conftest import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def started(settings: Settings) -> Runtime:
    rt = Runtime.create(settings)
    rt.migrate()
    rt.bootstrap()
    return rt


def app_client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt, workers=False), headers=ADMIN)


def new_admin(client: TestClient, name: str) -> str:
    created = client.post("/api/v1/users", json={"name": name, "role": "admin"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_the_admin_token_seeds_only_an_empty_store(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    rt = started(settings)
    client = app_client(rt)
    admin_id = client.get("/api/v1/users").json()["items"][0]["id"]
    tokens = client.get(f"/api/v1/users/{admin_id}/tokens").json()["items"]
    assert len(tokens) == 1
    # A second admin, then the configured token is revoked.
    other = new_admin(client, "root2")
    other_token = client.post(f"/api/v1/users/{other}/tokens", json={}).json()["token"]
    assert client.delete(f"/api/v1/users/{admin_id}/tokens/{tokens[0]['id']}").status_code == 204
    assert client.get("/api/v1/jobs").status_code == 401
    rt.close()

    with caplog.at_level(logging.WARNING, logger="conveyor.services.bootstrap"):
        again = started(settings)  # the same environment, CONVEYOR_ADMIN_TOKEN included
    try:
        assert "CONVEYOR_ADMIN_TOKEN is ignored" in caplog.text
        restarted = app_client(again)
        assert restarted.get("/api/v1/jobs").status_code == 401
        as_other = TestClient(restarted.app, headers={"Authorization": f"Bearer {other_token}"})
        assert as_other.get(f"/api/v1/users/{admin_id}/tokens").json()["items"] == []
    finally:
        again.close()
