"""Verified tokens are remembered for a few seconds, and forgotten as soon as a token or
its user changes (in this process), so caching never outlives a revocation here."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from conveyor.api.deps import Ctx, check_routes
from conveyor.services import auth


def _token(client: TestClient, role: str = "standard") -> tuple[str, str, str]:
    user = client.post("/api/v1/users", json={"name": f"u-{role}", "role": role}).json()
    created = client.post(f"/api/v1/users/{user['id']}/tokens", json={"name": "t"}).json()
    return user["id"], created["id"], created["token"]


def remembered(client: TestClient, token: str) -> auth.Verified | None:
    """This process's verified entry for `token` against the client's store."""
    store = auth.store_key(client.app.state.runtime.engine)  # type: ignore[attr-defined]
    return auth.verified_tokens.get(f"{store}\0{auth.hash_token(token)}")


def test_a_verified_token_is_answered_without_the_store(client: TestClient) -> None:
    _, _, token = _token(client)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    verified = remembered(client, token)
    assert verified is not None and verified.principal.name == "u-standard"
    store = auth.store_key(client.app.state.runtime.engine)  # type: ignore[attr-defined]
    assert auth.cached_principal({"authorization": f"Bearer {token}"}, store) == (
        verified.principal,
        verified.token_id,
    )
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200


def test_a_revoked_token_fails_at_once(client: TestClient) -> None:
    user_id, token_id, token = _token(client)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    assert client.delete(f"/api/v1/users/{user_id}/tokens/{token_id}").status_code == 204
    assert remembered(client, token) is None
    assert client.get("/api/v1/jobs", headers=headers).status_code == 401


def test_a_deactivated_or_demoted_user_is_checked_afresh(client: TestClient) -> None:
    user_id, _, token = _token(client)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/workspaces", json={"name": "w"}, headers=headers).status_code == 201
    client.patch(f"/api/v1/users/{user_id}", json={"role": "viewer"})
    assert client.post("/api/v1/workspaces", json={"name": "v"}, headers=headers).status_code == 403
    client.patch(f"/api/v1/users/{user_id}", json={"active": False})
    assert client.get("/api/v1/jobs", headers=headers).status_code == 401


def test_a_basic_name_that_is_not_the_owner_is_refused_though_cached(client: TestClient) -> None:
    _, _, token = _token(client)
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}).is_success
    assert client.get("/api/v1/jobs", auth=("u-standard", token)).status_code == 200
    assert client.get("/api/v1/jobs", auth=("someone-else", token)).status_code == 401


def test_a_ctx_route_needs_the_unit_route_class() -> None:
    router = APIRouter()

    @router.get("/x")
    def x(ctx: Ctx) -> None:
        return None

    app = FastAPI()
    app.include_router(router)
    try:
        check_routes(app)
    except TypeError as exc:
        assert "UnitRoute" in str(exc)
    else:
        raise AssertionError("a Ctx route without UnitRoute was accepted")
