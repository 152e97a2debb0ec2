"""Tokens have lifetimes: defaults, maxima, viewers' tokens always expire, expired ones are
refused on every surface."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.services.auth import verified_tokens
from conveyor.store.models import Token
from tests.conftest import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def started(settings: Settings) -> Runtime:
    rt = Runtime.create(settings)
    rt.migrate()
    rt.bootstrap()
    return rt


@pytest.fixture
def limited_runtime(settings: Settings) -> Iterator[Runtime]:
    """A store whose tokens default to 7 days and may last at most 90."""
    rt = started(settings.model_copy(update={"token_default_days": 7, "token_max_days": 90}))
    yield rt
    rt.close()


@pytest.fixture
def sqlite_runtime(settings: Settings) -> Iterator[Runtime]:
    rt = started(settings)
    yield rt
    rt.close()


def app_client(rt: Runtime, **headers: str) -> TestClient:
    return TestClient(create_app(rt, workers=False), headers=headers or ADMIN)


def new_user(client: TestClient, name: str, role: str, password: str | None = None) -> str:
    body: dict[str, Any] = {"name": name, "role": role}
    if password:
        body["password"] = password
    created = client.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def days_left(token: dict[str, Any]) -> float | None:
    if token["expires_at"] is None:
        return None
    expires = dt.datetime.fromisoformat(token["expires_at"])
    return (expires - dt.datetime.now(dt.UTC)).total_seconds() / 86400


def test_the_default_and_the_maximum_apply_on_every_minting_path(
    limited_runtime: Runtime,
) -> None:
    client = app_client(limited_runtime)
    sam = new_user(client, "sam", "standard", password="sam-password-1")
    default = client.post(f"/api/v1/users/{sam}/tokens", json={"name": "d"}).json()
    assert 6.9 < days_left(default) <= 7  # type: ignore[operator]
    longest = client.post(f"/api/v1/users/{sam}/tokens", json={"expires_in_days": 90})
    assert longest.status_code == 201 and 89.9 < days_left(longest.json()) <= 90  # type: ignore[operator]
    too_long = client.post(f"/api/v1/users/{sam}/tokens", json={"expires_in_days": 91})
    assert too_long.status_code == 422
    assert too_long.json()["field"] == "expires_in_days" and too_long.json()["maximum"] == 90
    assert "90" in too_long.json()["detail"]

    # CData v2: an admin for someone, and a user for themself (signed in by password).
    v2 = "/api.rsc/v2/users/generate-token"
    for_sam = client.post(v2, json={"user": "sam"})
    assert for_sam.status_code == 200 and 6.9 < days_left(for_sam.json()) <= 7  # type: ignore[operator]
    own = TestClient(client.app).post(v2, json={}, auth=("sam", "sam-password-1"))
    assert own.status_code == 200 and 6.9 < days_left(own.json()) <= 7  # type: ignore[operator]
    refused = TestClient(client.app).post(
        v2, json={"Expired_In": 365}, auth=("sam", "sam-password-1")
    )
    assert refused.status_code == 400, refused.text
    assert "expires_in_days" in refused.json()["error"]["message"]


def test_a_viewers_token_always_expires(runtime: Runtime) -> None:
    """On each metadata store: no settings, so only viewers' tokens expire by default."""
    client = app_client(runtime)
    sam = new_user(client, "sam", "standard")
    forever = client.post(f"/api/v1/users/{sam}/tokens", json={}).json()
    assert forever["expires_at"] is None
    vera = new_user(client, "vera", "viewer", password="vera-password-1")
    viewer_default = client.post(f"/api/v1/users/{vera}/tokens", json={}).json()
    assert 29.9 < days_left(viewer_default) <= 30  # type: ignore[operator]
    short = client.post(f"/api/v1/users/{vera}/tokens", json={"expires_in_days": 10}).json()
    assert 9.9 < days_left(short) <= 10  # type: ignore[operator]
    too_long = client.post(f"/api/v1/users/{vera}/tokens", json={"expires_in_days": 31})
    assert too_long.status_code == 422 and too_long.json()["maximum"] == 30
    own = TestClient(client.app).post(
        "/api.rsc/v2/users/generate-token", json={"Expired_In": 0}, auth=("vera", "vera-password-1")
    )
    assert own.status_code == 200 and 29.9 < days_left(own.json()) <= 30  # type: ignore[operator]

    # A user made a viewer keeps no token that outlives a viewer's.
    assert client.patch(f"/api/v1/users/{sam}", json={"role": "viewer"}).status_code == 200
    listed = client.get(f"/api/v1/users/{sam}/tokens").json()["items"]
    assert [round(days_left(t)) for t in listed] == [30]  # type: ignore[arg-type]


def expire(rt: Runtime, token_id: str) -> None:
    """The token's time runs out: its expiry moves into the past, and this process's
    verified tokens are forgotten as their lifetime (`CONVEYOR_AUTH_CACHE_SECONDS`) would."""
    with rt.factory() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        session.execute(update(Token).where(Token.id == token_id).values(expires_at=past))
        session.commit()
    verified_tokens.clear()


EXPIRED_PATHS = [
    "/api/v1/jobs",
    "/metrics",
    "/api.rsc/jobs",
    "/api.rsc/v2/workspaces",
    "/admin/app/scapi/jobs/x/status/y",
    "/_connector",
    "/sync/jobs",
    "/sync/exports",
]


def test_an_expired_token_is_refused_on_every_surface(sqlite_runtime: Runtime) -> None:
    client = app_client(sqlite_runtime)
    sam = new_user(client, "sam", "standard")
    token = client.post(f"/api/v1/users/{sam}/tokens", json={"expires_in_days": 1}).json()
    as_sam = TestClient(client.app, headers={"Authorization": f"Bearer {token['token']}"})
    assert [as_sam.get(path).status_code for path in EXPIRED_PATHS] == [
        200,
        200,
        200,
        200,
        404,
        200,
        200,
        200,
    ]
    expire(sqlite_runtime, token["id"])
    for path in EXPIRED_PATHS:
        assert as_sam.get(path).status_code == 401, path
    for headers in (
        {"x-cdata-authtoken": token["token"]},
        {"Authorization": f"ApiKey {token['token']}"},
    ):
        assert TestClient(client.app).get("/api.rsc/jobs", headers=headers).status_code == 401
    assert (
        TestClient(client.app).get("/api.rsc/jobs", auth=("sam", token["token"])).status_code == 401
    )
    assert (
        TestClient(client.app)
        .get("/api.rsc/v2/workspaces", auth=("any", token["token"]))
        .status_code
        == 401
    )
    # An expired token is a real one, not a guess: it does not count towards the limit.
    for _ in range(sqlite_runtime.settings.auth_failures_per_minute + 2):
        assert as_sam.get("/api/v1/jobs").status_code == 401


def test_the_first_admin_token_follows_the_default_lifetime(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="conveyor.services.bootstrap"):
        rt = started(settings.model_copy(update={"token_default_days": 5}))
    try:
        assert "expires at" in caplog.text
        client = app_client(rt)
        admin_id = client.get("/api/v1/users").json()["items"][0]["id"]
        (token,) = client.get(f"/api/v1/users/{admin_id}/tokens").json()["items"]
        assert 4.9 < days_left(token) <= 5  # type: ignore[operator]
    finally:
        rt.close()
