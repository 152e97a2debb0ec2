"""Guessing is slow: failed sign-ins are limited per client address and per user name.

In-process against the real SQLite store. The attacker and the other users share an
address unless a test gives them their own (TestClient's `client=`), as they would
behind one NAT.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.services import auth
from conveyor.services.sign_in_limits import ADDRESS_FACTOR, SignInLimiter
from tests.conftest import ADMIN_TOKEN

LIMIT = 10
ADDRESS_LIMIT = LIMIT * ADDRESS_FACTOR
VICTIM_PASSWORD = "victim-password-1"
OTHER_PASSWORD = "other-password-1"


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.create(settings.model_copy(update={"auth_failures_per_minute": LIMIT}))
    rt.migrate()
    rt.bootstrap()
    yield rt
    rt.close()


@pytest.fixture
def admin(runtime: Runtime) -> TestClient:
    """The admin, from an address of its own (so the tests' bursts never limit it)."""
    return TestClient(
        create_app(runtime, workers=False),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        client=("10.9.9.9", 1),
    )


@pytest.fixture
def people(admin: TestClient) -> dict[str, str]:
    """Two users with passwords; returns the tokens of each."""
    tokens = {}
    for name, password in (("victim", VICTIM_PASSWORD), ("other", OTHER_PASSWORD)):
        user = admin.post("/api/v1/users", json={"name": name, "password": password})
        assert user.status_code == 201, user.text
        token = admin.post(f"/api/v1/users/{user.json()['id']}/tokens", json={"name": "t"})
        tokens[name] = token.json()["token"]
    return tokens


def from_address(admin: TestClient, host: str) -> TestClient:
    return TestClient(admin.app, client=(host, 40000))


def counting_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every scrypt check the sign-in path makes."""
    calls: list[str] = []
    real = auth.verify_password

    def counted(stored: str | None, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(auth, "verify_password", counted)
    return calls


def test_a_burst_of_wrong_passwords_is_limited_while_others_keep_working(
    admin: TestClient, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = counting_checks(monkeypatch)
    attacker = from_address(admin, "203.0.113.7")
    statuses = []
    for attempt in range(100):
        answer = attacker.get("/api/v1/workspaces", auth=("victim", f"guess-{attempt}"))
        statuses.append(answer.status_code)
        if attempt % 10 == 9:  # another user, same address, signs in with a token meanwhile
            bearer = {"Authorization": f"Bearer {people['other']}"}
            assert attacker.get("/api/v1/workspaces", headers=bearer).status_code == 200
            as_basic = attacker.get("/api.rsc/jobs", auth=("other", people["other"]))
            assert as_basic.status_code == 200
    assert statuses == [401] * LIMIT + [429] * (100 - LIMIT)
    assert len(checks) == LIMIT, "a limited attempt must cost no scrypt check"

    wrong = attacker.get("/api/v1/workspaces", auth=("victim", "still-a-guess"))
    right = attacker.get("/api/v1/workspaces", auth=("victim", VICTIM_PASSWORD))
    for answer in (wrong, right):
        assert answer.status_code == 429
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
        assert answer.json()["title"] == wrong.json()["title"]
        assert "www-authenticate" not in answer.headers
    assert right.json()["detail"].split(";")[0] == wrong.json()["detail"].split(";")[0]
    assert len(checks) == LIMIT

    # The name is limited everywhere; its token is not. The other user's password works
    # from an address that did not guess.
    elsewhere = from_address(admin, "198.51.100.1")
    assert elsewhere.get("/api/v1/workspaces", auth=("victim", VICTIM_PASSWORD)).status_code == 429
    victim_token = {"Authorization": f"Bearer {people['victim']}"}
    assert elsewhere.get("/api/v1/workspaces", headers=victim_token).status_code == 200
    assert elsewhere.get("/api/v1/workspaces", auth=("other", OTHER_PASSWORD)).status_code == 200
    # One account under attack does not lock out the others behind the same address: the
    # attempts refused for the limited name were not counted against the address.
    assert attacker.get("/api/v1/workspaces", auth=("other", OTHER_PASSWORD)).status_code == 200


def test_an_address_spraying_many_names_is_limited(
    admin: TestClient, people: dict[str, str]
) -> None:
    sprayer = from_address(admin, "203.0.113.12")
    statuses = [
        sprayer.get("/api/v1/jobs", auth=(f"name-{index}", "Summer2026!")).status_code
        for index in range(ADDRESS_LIMIT + 2)
    ]
    assert statuses == [401] * ADDRESS_LIMIT + [429] * 2
    # Passwords and unknown tokens from it wait; valid tokens do not.
    assert sprayer.get("/api/v1/jobs", auth=("other", OTHER_PASSWORD)).status_code == 429
    assert sprayer.get("/api/v1/jobs", headers={"Authorization": "Bearer cvy_x"}).status_code == 429
    valid = {"Authorization": f"Bearer {people['other']}"}
    assert sprayer.get("/api/v1/jobs", headers=valid).status_code == 200


def test_one_name_guessed_from_many_addresses_is_limited(
    admin: TestClient, people: dict[str, str]
) -> None:
    for index in range(LIMIT):
        guesser = from_address(admin, f"192.0.2.{index + 1}")
        answer = guesser.get("/api.rsc/jobs", auth=("victim", f"guess-{index}"))
        assert answer.status_code == 401
    fresh = from_address(admin, "192.0.2.200")
    limited = fresh.get("/api.rsc/jobs", auth=("victim", VICTIM_PASSWORD))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "TooManySignIns"
    # Unknown names count too (so 401 vs 429 does not tell which names exist).
    for index in range(LIMIT):
        guesser = from_address(admin, f"192.0.2.{index + 100}")
        assert guesser.get("/api/v1/jobs", auth=("nobody", "x" * 9)).status_code == 401
    assert fresh.get("/api/v1/jobs", auth=("nobody", "x" * 9)).status_code == 429
    # That address made no failed attempt: another name's password is checked there.
    assert fresh.get("/api.rsc/jobs", auth=("other", OTHER_PASSWORD)).status_code == 200


def test_after_the_window_the_user_signs_in_again(
    runtime: Runtime, admin: TestClient, people: dict[str, str]
) -> None:
    # a window of some seconds: each failed attempt checks a password (scrypt), which a
    # loaded machine may take most of a second to do
    runtime.sign_ins = SignInLimiter(3, window_seconds=5)
    attacker = from_address(admin, "203.0.113.8")
    for index in range(3):
        assert attacker.get("/api/v1/jobs", auth=("victim", f"guess-{index}")).status_code == 401
    limited = attacker.get("/api/v1/jobs", auth=("victim", VICTIM_PASSWORD))
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 5
    time.sleep(retry_after + 0.2)
    assert attacker.get("/api/v1/jobs", auth=("victim", VICTIM_PASSWORD)).status_code == 200


def test_unknown_tokens_count_per_address_and_valid_ones_always_pass(
    admin: TestClient, people: dict[str, str]
) -> None:
    prober = from_address(admin, "203.0.113.9")
    unknown = [
        {"Authorization": "Bearer cvy_guess"},
        {"x-cdata-authtoken": "cvy_guess"},
        {"Authorization": "ApiKey cvy_guess"},
        {"Authorization": "Basic !!!"},  # malformed counts as a failure too
    ]
    statuses = [
        prober.get("/api/v1/jobs", headers=unknown[i % len(unknown)]).status_code
        for i in range(ADDRESS_LIMIT + 3)
    ]
    assert statuses == [401] * ADDRESS_LIMIT + [429] * 3
    assert prober.get("/api/v1/jobs").status_code == 401, "no credentials: 401, not counted"
    valid = {"Authorization": f"Bearer {people['victim']}"}
    assert prober.get("/api/v1/jobs", headers=valid).status_code == 200
    assert prober.get("/api/v1/jobs", auth=("victim", VICTIM_PASSWORD)).status_code == 429


SURFACES: list[tuple[str, str, Any]] = [
    ("native", "/api/v1/jobs", lambda body: body["status"] == 429 and body["title"]),
    ("metrics", "/metrics", lambda body: body["status"] == 429),
    ("cdata v1", "/api.rsc/jobs", lambda body: body["error"]["code"] == "TooManySignIns"),
    ("cdata v2", "/api.rsc/v2/workspaces", lambda body: body["error"]["code"] == "TooManySignIns"),
    ("scapi", "/admin/app/scapi/jobs/x/status/y", lambda body: body["status"] == 429),
    (
        "elastic",
        "/_connector",
        lambda body: body["status"] == 429 and body["error"]["type"] == "security_exception",
    ),
    ("json:api jobs", "/sync/jobs", lambda body: body["errors"][0]["status"] == "429"),
    ("json:api exports", "/sync/exports", lambda body: body["errors"][0]["status"] == "429"),
]


def test_every_surface_answers_429_in_its_shape_with_retry_after(admin: TestClient) -> None:
    prober = from_address(admin, "203.0.113.10")
    wrong = {"Authorization": "Bearer cvy_guess"}
    for _ in range(ADDRESS_LIMIT):
        assert prober.get("/api/v1/jobs", headers=wrong).status_code == 401
    for name, path, shaped in SURFACES:
        answer = prober.get(path, headers=wrong)
        assert answer.status_code == 429, (name, answer.text)
        assert 1 <= int(answer.headers["Retry-After"]) <= 60, name
        assert shaped(answer.json()), (name, answer.text)


def test_the_outcome_is_left_on_request_state_for_the_audit_log(
    runtime: Runtime, people: dict[str, str]
) -> None:
    seen: list[tuple[Any, Any]] = []
    app = create_app(runtime, workers=False)

    @app.middleware("http")
    async def record(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        state = request.state
        seen.append((getattr(state, "principal", None), getattr(state, "sign_in_failure", None)))
        return response

    client = TestClient(app, client=("203.0.113.11", 40000))
    client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {people['other']}"})
    client.get("/api.rsc/jobs", auth=("victim", "wrong-password"))
    for _ in range(ADDRESS_LIMIT):
        client.get("/sync/jobs", headers={"Authorization": "Bearer cvy_guess"})
    client.get("/api/v1/jobs")
    principal, failure = seen[0]
    assert principal.name == "other" and failure is None
    principal, failure = seen[1]
    assert principal is None
    assert (failure.user_name, failure.client, failure.limited) == ("victim", "203.0.113.11", False)
    limited = [failure.limited for _, failure in seen[2:-1]]
    assert limited == [False] * (ADDRESS_LIMIT - 1) + [True]
    assert seen[-1] == (None, None), "an anonymous request is not a failed sign-in"
