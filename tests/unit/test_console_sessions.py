"""The console's session cookies and CSRF tokens: signed, expiring, bound to one session."""

from __future__ import annotations

import time

import pytest

from conveyor.console.sessions import Sessions, derive_key

KEY = derive_key(b"k" * 32)


def test_a_cookie_reads_back_as_its_session() -> None:
    sessions = Sessions(KEY, lifetime=60)
    session, cookie = sessions.issue("cvy_token/ü")
    assert sessions.read(cookie) == session
    assert session.token == "cvy_token/ü"
    assert time.time() < session.expires <= time.time() + 60


@pytest.mark.parametrize(
    "alter",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # signature
        lambda c: c.replace(c.split(".")[1], str(int(c.split(".")[1]) + 3600), 1),  # expiry
        lambda c: "dXNlcjoy." + c.split(".", 1)[1],  # another user id
        lambda c: c.rsplit(".", 1)[0],  # no signature
        lambda c: "",
    ],
)
def test_an_altered_cookie_is_refused(alter) -> None:  # type: ignore[no-untyped-def]
    sessions = Sessions(KEY)
    _, cookie = sessions.issue("user:1")
    assert sessions.read(alter(cookie)) is None


def test_another_servers_key_does_not_read_the_cookie() -> None:
    _, cookie = Sessions(KEY).issue("user:1")
    assert Sessions(derive_key(b"x" * 32)).read(cookie) is None


def test_an_expired_cookie_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Sessions(KEY, lifetime=60)
    _, cookie = sessions.issue("user:1")
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert sessions.read(cookie) is None


def test_a_csrf_token_belongs_to_its_session_only() -> None:
    sessions = Sessions(KEY)
    one, _ = sessions.issue("user:1")
    other, _ = sessions.issue("user:1")
    token = sessions.csrf_token(one.nonce)
    assert sessions.csrf_valid(one.nonce, token)
    assert not sessions.csrf_valid(other.nonce, token)
    assert not sessions.csrf_valid(one.nonce, None)
    assert not sessions.csrf_valid(one.nonce, "")
    assert not sessions.csrf_valid(None, token)


def test_the_session_key_is_not_the_secret_key() -> None:
    assert derive_key(b"k" * 32) != b"k" * 32
    assert len(KEY) == 32
