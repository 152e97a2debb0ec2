"""Users, their passwords and their API tokens; secrets are stored as hashes, tokens shown once.

Tokens are long random strings, so a fast SHA-256 is enough to store them. Passwords are
chosen by people (CData Sync's `Password` on `POST /users`, Basic `user:password`), so
they get scrypt with a per-password salt: slow to guess even if the store leaks.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from sqlalchemy import select

from conveyor.domain import Role, utcnow
from conveyor.errors import Conflict, InvalidInput, NotFound
from conveyor.schemas.users import TokenCreate, TokenCreated, UserCreate, UserOut, UserUpdate
from conveyor.services import audit, listing
from conveyor.services.context import Context
from conveyor.services.token_lifetimes import lifetime
from conveyor.store.models import Token, User, Workspace

FIELDS = {
    "id": User.id,
    "name": User.name,
    "role": User.role,
    "active": User.active,
    "created_at": User.created_at,
}
TOKEN_PREFIX = "cvy_"
PASSWORD_MIN_LENGTH = 8
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256 (tokens are long random strings, not passwords)."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """The stored form of a password: `scrypt$n$r$p$salt$digest`, salt and digest base64."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    encode = base64.b64encode
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"
    )


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` was made from (constant time)."""
    try:
        scheme, n, r, p, salt, digest = (stored or "").split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _checked_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(
            f"a password needs at least {PASSWORD_MIN_LENGTH} characters", field="password"
        )
    return password


def new_token_value() -> str:
    """A fresh random token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def get(ctx: Context, user_id: str) -> User:
    """A user, by id or name (admins only)."""
    ctx.principal.require_admin()
    user = ctx.session.get(User, user_id) or ctx.session.scalar(
        select(User).where(User.name == user_id)
    )
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def to_out(user: User) -> UserOut:
    """The user as shown (never a password or a token)."""
    return UserOut.model_validate(user)


def list_(ctx: Context, query: Mapping[str, str]) -> listing.Paged[User]:
    """Every user (admins only)."""
    ctx.principal.require_admin()
    params = listing.ListParams.parse(query)
    return listing.page(ctx.session, listing.apply(select(User), params, FIELDS, ("name",)), params)


def _check_workspaces(ctx: Context, workspace_ids: list[str]) -> None:
    known = set(ctx.session.scalars(select(Workspace.id).where(Workspace.id.in_(workspace_ids))))
    missing = [w for w in workspace_ids if w not in known]
    if missing:
        raise InvalidInput(f"unknown workspaces: {', '.join(missing)}", field="workspace_ids")


def create(ctx: Context, data: UserCreate, password: str | None = None) -> User:
    """A new user (admins only), optionally with a password for Basic authentication."""
    password = password or data.password
    ctx.principal.require_admin()
    if ctx.session.scalar(select(User.id).where(User.name == data.name)):
        raise Conflict(f"a user named {data.name!r} already exists")
    _check_workspaces(ctx, data.workspace_ids)
    user = User(
        name=data.name,
        role=data.role.value,
        workspace_ids=list(data.workspace_ids),
        active=data.active,
        password_hash=hash_password(_checked_password(password)) if password else None,
        expires_at=data.expires_at,
    )
    ctx.session.add(user)
    ctx.session.flush()
    audit.note(user.id)
    return user


def update(ctx: Context, user_id: str, data: UserUpdate, password: str | None = None) -> User:
    """Change a user (admins only); the last active admin cannot lose that."""
    user = get(ctx, user_id)
    password = password or data.password
    if password:
        user.password_hash = hash_password(_checked_password(password))
    if data.name is not None and data.name != user.name:
        if ctx.session.scalar(select(User.id).where(User.name == data.name)):
            raise Conflict(f"a user named {data.name!r} already exists")
        user.name = data.name
    demoted = (data.role is not None and data.role is not Role.admin) or data.active is False
    if demoted and user.role == Role.admin.value:
        _keep_an_admin(ctx, user)
    if data.role is Role.viewer and user.role != Role.viewer.value:
        _cap_tokens(ctx, user, Role.viewer)
    if data.role is not None:
        user.role = data.role.value
    if data.workspace_ids is not None:
        _check_workspaces(ctx, data.workspace_ids)
        user.workspace_ids = list(data.workspace_ids)
    if data.active is not None:
        user.active = data.active
    if "expires_at" in data.model_fields_set:
        expire(user, data.expires_at)
    ctx.session.flush()
    audit.note(user.id)
    return user


def expire(user: User, when: dt.datetime | None) -> None:
    """The user stops working at `when` (None: never), and no token of theirs outlives it."""
    user.expires_at = when
    if when is None:
        return
    for token in user.tokens:
        if token.expires_at is None or token.expires_at > when:
            token.expires_at = when


def expired(user: User, now: dt.datetime) -> bool:
    """Whether the user's expiry has passed."""
    return user.expires_at is not None and user.expires_at <= now


def _cap_tokens(ctx: Context, user: User, role: Role) -> None:
    """A user becoming a viewer keeps no token that outlives a viewer's maximum."""
    rule, now = lifetime(ctx.settings, role), utcnow()
    for token in user.tokens:
        token.expires_at = rule.cap(token.expires_at, now)


def _keep_an_admin(ctx: Context, leaving: User) -> None:
    others = ctx.session.scalar(
        select(User.id)
        .where(User.role == Role.admin.value, User.active.is_(True), User.id != leaving.id)
        .limit(1)
    )
    if others is None:
        raise Conflict("this is the last active admin; make another admin first")


def delete(ctx: Context, user_id: str) -> None:
    """Delete a user and their tokens (admins only)."""
    user = get(ctx, user_id)
    if user.role == Role.admin.value:
        _keep_an_admin(ctx, user)
    audit.note(user.id)
    ctx.session.delete(user)


def issue_token(
    ctx: Context, user: User, data: TokenCreate, value: str | None = None
) -> TokenCreated:
    """A new token for a user; its value is returned once and only its hash is kept.

    Its lifetime follows the owner's role and the server's settings (`token_lifetimes`):
    the default when none is asked for, 422 past the maximum.
    """
    value = value or new_token_value()
    days = lifetime(ctx.settings, Role(user.role)).days(data.expires_in_days)
    expires = utcnow() + dt.timedelta(days=days) if days else None
    if user.expires_at is not None and (expires is None or expires > user.expires_at):
        expires = user.expires_at  # a token never outlives its user
    token = Token(
        user_id=user.id,
        name=data.name,
        token_hash=hash_token(value),
        prefix=value[:8],
        expires_at=expires,
    )
    ctx.session.add(token)
    ctx.session.flush()
    audit.note(token.id)
    return TokenCreated(
        id=token.id, token=value, name=token.name, created_at=token.created_at, expires_at=expires
    )


def issue_own_token(ctx: Context, data: TokenCreate) -> TokenCreated:
    """A new token for the caller themself (any role: it grants nothing they lack)."""
    user = ctx.session.get(User, ctx.principal.user_id)
    if user is None:
        raise NotFound(f"user {ctx.principal.name} not found")
    return issue_token(ctx, user, data)


def create_token(ctx: Context, user_id: str, data: TokenCreate) -> TokenCreated:
    """A new token for a user (admins only)."""
    return issue_token(ctx, get(ctx, user_id), data)


def tokens(ctx: Context, user_id: str) -> list[Token]:
    """A user's tokens, without their values."""
    return list(get(ctx, user_id).tokens)


def revoke_token(ctx: Context, user_id: str, token_id: str) -> None:
    """Delete a token."""
    user = get(ctx, user_id)
    token = ctx.session.get(Token, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"token {token_id} not found")
    audit.note(token.id)
    ctx.session.delete(token)


SESSION_TOKEN_NAME = "console session"


def issue_session(ctx: Context, seconds: int) -> TokenCreated:
    """A token for the caller's browser session (the web console): it lasts `seconds`,
    shows in their token list, and signing out revokes it like any token."""
    created = issue_own_token(ctx, TokenCreate(name=SESSION_TOKEN_NAME))
    token = ctx.session.get(Token, created.id)
    assert token is not None
    until = utcnow() + dt.timedelta(seconds=seconds)
    # Never past what the role's token rule allowed (a viewer's maximum, say).
    token.expires_at = min(until, created.expires_at) if created.expires_at else until
    ctx.session.flush()
    return created.model_copy(update={"expires_at": token.expires_at})


def revoke_own(ctx: Context, value: str) -> None:
    """Revoke one of the caller's tokens by its value (signing out); a token that is
    gone already, or someone else's, is left alone."""
    token = ctx.session.scalar(select(Token).where(Token.token_hash == hash_token(value)))
    if token is not None and token.user_id == ctx.principal.user_id:
        audit.note(token.id)
        ctx.session.delete(token)
