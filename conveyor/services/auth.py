"""Who is calling: Bearer tokens, CData's `x-cdata-authtoken`, or Basic `user:token` or
`user:password` — and, for guesses, how often they may fail (`sign_in_limits`).

Password checks are deliberately slow (scrypt), and CData clients poll with Basic
credentials many times a second, so a successful check is remembered for a few minutes —
keyed by an HMAC under a per-process random key, never by the password itself, and tied to
the stored hash so a changed password is checked afresh.

A token is one SHA-256 lookup, but that lookup is a store query on every request, so a
verified token is remembered too (`VerifiedTokens`, keyed by the token's hash, never the
token): for `CONVEYOR_AUTH_CACHE_SECONDS` (default 5), and never past the token's
expiry. A remembered token needs no store at all, so `cached_principal` answers on the
event loop. Revoking a token, or changing or deleting its user, forgets every remembered
token of this process as soon as the change commits; another API process (or node) can
still accept a revoked token for at most `CONVEYOR_AUTH_CACHE_SECONDS`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from conveyor.domain import Role, utcnow
from conveyor.errors import AuthenticationFailed, TooManySignIns
from conveyor.services.context import Principal
from conveyor.services.sign_in_limits import SignInLimiter
from conveyor.services.users import expired, hash_password, hash_token, verify_password
from conveyor.store.models import Token, User
from conveyor.store.session import unit_of_work

TOUCH_EVERY = dt.timedelta(minutes=1)
VERIFIED_TTL = 300.0
VERIFIED_MAX = 1024
_verified: OrderedDict[bytes, float] = OrderedDict()
_verified_lock = threading.Lock()
_process_key = secrets.token_bytes(32)


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _password_matches(user: User | None, password: str) -> bool:
    """scrypt check of a password, remembered a while when it succeeds."""
    if user is None or not user.password_hash:
        verify_password(_dummy_hash(), password)  # as slow as a real check: names stay secret
        return False
    key = hmac.new(
        _process_key, f"{user.id}\0{user.password_hash}\0{password}".encode(), hashlib.sha256
    ).digest()
    now = time.monotonic()
    with _verified_lock:
        expires = _verified.get(key)
        if expires is not None and expires > now:
            return True
    if not verify_password(user.password_hash, password):
        return False
    with _verified_lock:
        _verified[key] = now + VERIFIED_TTL
        _verified.move_to_end(key)
        while len(_verified) > VERIFIED_MAX:
            _verified.popitem(last=False)
    return True


@dataclass(frozen=True)
class Verified:
    """A token found valid: whose it is, until when it may be trusted without the store."""

    principal: Principal
    token_id: str
    expires_at: dt.datetime | None
    used_at: dt.datetime
    """When the store last noted the token's use (as far as this process knows)."""
    until: float
    """`time.monotonic()` after which the store is asked again."""


class VerifiedTokens:
    """Tokens verified lately, by their stored hash; at most `size`, oldest out first."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[str, Verified] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Verified | None:
        with self._lock:
            found = self._entries.get(token_hash)
            if found is not None and found.until <= time.monotonic():
                del self._entries[token_hash]
                return None
            return found

    def put(self, token_hash: str, verified: Verified) -> None:
        with self._lock:
            self._entries[token_hash] = verified
            self._entries.move_to_end(token_hash)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, token_hash: str) -> None:
        with self._lock:
            self._entries.pop(token_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_tokens = VerifiedTokens()
"""This process's verified tokens (cleared whenever a user or token changes)."""
_AUTH_CHANGED = "conveyor_auth_changed"


@event.listens_for(Session, "after_flush")
def _note_auth_changes(session: Session, _context: Any) -> None:
    """Mark a session that changed or deleted a user or a token (a new one changes nothing;
    nor does noting a token's last use)."""
    for row in session.deleted:
        if isinstance(row, (User, Token)):
            session.info[_AUTH_CHANGED] = True
            return
    for row in session.dirty:
        if isinstance(row, (User, Token)) and any(
            attr.key != "last_used_at" and attr.history.has_changes()
            for attr in instance_state(row).attrs
        ):
            session.info[_AUTH_CHANGED] = True
            return


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session: Session) -> None:
    if session.info.pop(_AUTH_CHANGED, False):
        verified_tokens.clear()


@event.listens_for(Session, "after_rollback")
def _keep_on_rollback(session: Session) -> None:
    session.info.pop(_AUTH_CHANGED, None)


def store_key(bind: Engine | Connection) -> str:
    """Which store a verified token was checked against: the same token may name another
    user in another store (tests run several stores in one process)."""
    return str(bind.engine.url)


def cached_principal(
    headers: Mapping[str, str], store: str, *, any_basic_user: bool = False
) -> tuple[Principal, str] | None:
    """The caller and their token's id, when the token was verified lately against
    `store` (`store_key`); else None.

    None also for anything `authenticate` must decide (no or malformed credentials, a
    password, a name beside the token that is not its owner's, an expired token, a use
    of the token the store should note): it answers those with the store at hand.
    """
    try:
        found = credentials(headers)
    except AuthenticationFailed:
        return None
    if found is None:
        return None
    user_name, secret = found
    verified = verified_tokens.get(f"{store}\0{hash_token(secret)}")
    if verified is None:
        return None
    if (
        user_name is not None
        and not any_basic_user
        and not hmac.compare_digest(user_name.encode(), verified.principal.name.encode())
    ):
        return None
    now = utcnow()
    if (verified.expires_at is not None and verified.expires_at < now) or (
        now - verified.used_at > TOUCH_EVERY
    ):
        return None
    return verified.principal, verified.token_id


def credentials(headers: Mapping[str, str]) -> tuple[str | None, str] | None:
    """(user name or None, token) from the request headers, or None when there are none."""
    if token := headers.get("x-cdata-authtoken"):
        return None, token.strip()
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() in ("bearer", "apikey") and value.strip():
        return None, value.strip()  # ApiKey: how Elasticsearch clients send a key
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationFailed("malformed Basic credentials") from None
        user, sep, token = decoded.partition(":")
        if not sep:
            raise AuthenticationFailed("malformed Basic credentials")
        return user, token
    return None


def attempted(headers: Mapping[str, str]) -> tuple[bool, str | None]:
    """Whether a request tried to sign in (sent credentials, even malformed ones), and
    the user name its Basic credentials name, if any. Never raises."""
    try:
        found = credentials(headers)
    except AuthenticationFailed:
        return True, None
    return (False, None) if found is None else (True, found[0])


def authenticate(
    session: Session,
    headers: Mapping[str, str],
    *,
    client: str,
    limiter: SignInLimiter,
    any_basic_user: bool = False,
    touch: Callable[[str], None] | None = None,
    remember: float = 0.0,
) -> Principal:
    """The caller; 401 for missing or invalid credentials, 429 while guessing is limited.

    Basic credentials are `user:token` or `user:password`; with `any_basic_user` (CData's
    v2 API) the user name beside a token is not checked. A known token is accepted
    whatever the limits say (it cannot be guessed, and finding it is one hash lookup);
    an unknown token counts against the client's address, a wrong password against the
    address and the user name, and either over its limit refuses further passwords and
    unknown tokens with 429 — before any check, so a 429 never tells a right password.

    A token's last use is noted (at most once a minute) in `session`, or through `touch`
    when the session only reads. A valid token is remembered for `remember` seconds
    (`cached_principal`).
    """
    try:
        found = credentials(headers)
    except AuthenticationFailed:
        _count_failure(limiter, client, None)
        raise
    if found is None:
        raise AuthenticationFailed(
            "authentication required: send a Bearer token or x-cdata-authtoken"
        )
    user_name, secret = found
    token_hash = hash_token(secret)
    row = session.execute(
        select(Token, User)
        .join(User, Token.user_id == User.id)
        .where(Token.token_hash == token_hash)
    ).first()
    if row is not None:
        principal = _token_principal(
            *row, user_name=user_name, any_basic_user=any_basic_user, touch=touch
        )
        if remember > 0:
            token = row[0]
            verified_tokens.put(
                f"{store_key(session.get_bind())}\0{token_hash}",
                Verified(
                    principal,
                    token.id,
                    token.expires_at,
                    token.last_used_at or utcnow(),
                    time.monotonic() + remember,
                ),
            )
        return principal
    if user_name is None:
        _count_failure(limiter, client, None)
        raise AuthenticationFailed("invalid credentials")
    with limiter.checking(client, user_name):
        if (wait := limiter.retry_after(client, user_name)) is not None:
            raise TooManySignIns(wait)
        user = session.scalar(select(User).where(User.name == user_name))
        if (
            _password_matches(user, secret)
            and user is not None
            and user.active
            and not expired(user, utcnow())
        ):
            return _principal(user)
        limiter.failed(client, user_name)
    raise AuthenticationFailed("invalid credentials")


def token_holder(
    session: Session, secret: str, touch: Callable[[str], None] | None = None
) -> Principal | None:
    """The owner of a token that is valid now, or None — without counting a miss as a
    failed sign-in: the web console's session token, which simply expires."""
    row = session.execute(
        select(Token, User)
        .join(User, Token.user_id == User.id)
        .where(Token.token_hash == hash_token(secret))
    ).first()
    if row is None:
        return None
    try:
        return _token_principal(*row, user_name=None, any_basic_user=False, touch=touch)
    except AuthenticationFailed:
        return None


def _count_failure(limiter: SignInLimiter, client: str, user_name: str | None) -> None:
    """Count a failure that needed no password check; 429 if the address was already over."""
    if (wait := limiter.retry_after(client, user_name)) is not None:
        raise TooManySignIns(wait)
    limiter.failed(client, user_name)


def _token_principal(
    token: Token,
    user: User,
    *,
    user_name: str | None,
    any_basic_user: bool,
    touch: Callable[[str], None] | None,
) -> Principal:
    """The owner of a known token, unless the name beside it, the user or its age says no.

    These failures are not counted: the token is real, so nothing is being guessed.
    """
    if (
        user_name is not None
        and not any_basic_user
        and not hmac.compare_digest(user_name.encode(), user.name.encode())
    ):
        raise AuthenticationFailed("invalid credentials")
    now = utcnow()
    if (
        not user.active
        or expired(user, now)
        or (token.expires_at is not None and token.expires_at < now)
    ):
        raise AuthenticationFailed("invalid credentials: the user is inactive or the token expired")
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        if touch is None:
            token.last_used_at = now
        else:
            touch(token.id)
            set_committed_value(token, "last_used_at", now)  # as the store now says
    return _principal(user)


def touch_token(factory: sessionmaker[Session], token_id: str) -> None:
    """Note a token's use now, in a short transaction of its own (for read-only requests)."""
    now = utcnow()
    with unit_of_work(factory) as session:
        session.execute(
            update(Token)
            .where(Token.id == token_id)
            .where(or_(Token.last_used_at.is_(None), Token.last_used_at < now - TOUCH_EVERY))
            .values(last_used_at=now)
        )


def _principal(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        name=user.name,
        role=Role(user.role),
        workspace_ids=tuple(user.workspace_ids),
    )
