"""The console's session cookie and CSRF tokens.

A browser cannot send a Bearer token on a link or a form, so signing in to the console
issues the user an API token of their own that lasts the session
(`services.users.issue_session`), and the browser keeps it in a cookie:
`token . expiry . nonce`, signed with an HMAC under a key derived from the server's secret
key (so every API process of a server, and a restarted one, accepts it). The cookie is
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure
when the request came over TLS, and it expires: the signature covers the expiry, the
token expires with it, and the browser drops it then too.

Each request checks the token again (`services.auth.token_holder`): signing out revokes
it, so a copy of the cookie is worthless afterwards; a deactivated or deleted user, or
one whose role changed, is out (or in their new role) at once.

CSRF: every form carries a token derived from the session's nonce (or, before sign-in,
from a pre-session cookie's), compared in constant time; a post without it is refused
(403). SameSite=Strict already keeps other sites out; the token is the second lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response

COOKIE = "conveyor_session"
PRE_COOKIE = "conveyor_presession"
WORKSPACE_COOKIE = "conveyor_workspace"
CSRF_FIELD = "csrf_token"
DEFAULT_LIFETIME = 8 * 3600


def derive_key(secret: bytes) -> bytes:
    """The console's signing key, derived from (never equal to) the server's secret key."""
    return hmac.new(secret, b"conveyor console session v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its session token, until when, and the nonce its CSRF tokens use."""

    token: str
    expires: int
    nonce: str


class Sessions:
    """Issues and checks session cookies and CSRF tokens under one key."""

    def __init__(self, key: bytes, lifetime: int = DEFAULT_LIFETIME) -> None:
        self.key = key
        self.lifetime = lifetime

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self.key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, token: str) -> tuple[Session, str]:
        """A new session holding the session token, and its cookie value."""
        session = Session(token, int(time.time()) + self.lifetime, secrets.token_urlsafe(16))
        held = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
        payload = f"{held}.{session.expires}.{session.nonce}"
        return session, f"{payload}.{self._sign(payload)}"

    def read(self, value: str | None) -> Session | None:
        """The session a cookie value carries, or None: unsigned, altered or expired."""
        if not value or value.count(".") != 3:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        held, expires, nonce = payload.split(".")
        try:
            token = base64.urlsafe_b64decode(held + "=" * (-len(held) % 4)).decode()
            until = int(expires)
        except ValueError:
            return None
        if until <= time.time():
            return None
        return Session(token, until, nonce)

    def csrf_token(self, nonce: str) -> str:
        """The CSRF token of forms shown to the holder of `nonce`."""
        return self._sign(f"csrf:{nonce}")

    def csrf_valid(self, nonce: str | None, token: str | None) -> bool:
        """Whether a posted token belongs to the nonce (constant time)."""
        if not nonce or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(nonce))


def secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (then the cookie is Secure)."""
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set a console cookie: HttpOnly, SameSite=Strict, Secure over TLS, scoped to /ui."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    """Drop a console cookie (signing out)."""
    response.delete_cookie(
        name, path="/ui", httponly=True, samesite="strict", secure=secure(request)
    )
