"""Who is calling: Bearer tokens, CData's `x-cdata-authtoken`, or Basic `user:token`."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from conveyor.domain import Role, utcnow
from conveyor.errors import AuthenticationFailed
from conveyor.services.context import Principal
from conveyor.services.users import hash_token
from conveyor.store.models import Token, User

TOUCH_EVERY = dt.timedelta(minutes=1)


def credentials(headers: Mapping[str, str]) -> tuple[str | None, str] | None:
    """(user name or None, token) from the request headers, or None when there are none."""
    if token := headers.get("x-cdata-authtoken"):
        return None, token.strip()
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return None, value.strip()
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


def authenticate(session: Session, headers: Mapping[str, str]) -> Principal:
    """The caller, or 401 for missing or invalid credentials."""
    found = credentials(headers)
    if found is None:
        raise AuthenticationFailed(
            "authentication required: send a Bearer token or x-cdata-authtoken"
        )
    user_name, token_value = found
    row = session.execute(
        select(Token, User)
        .join(User, Token.user_id == User.id)
        .where(Token.token_hash == hash_token(token_value))
    ).first()
    if row is None:
        raise AuthenticationFailed("invalid credentials")
    token, user = row
    if user_name is not None and not hmac.compare_digest(user_name, user.name):
        raise AuthenticationFailed("invalid credentials")
    now = utcnow()
    if not user.active or (token.expires_at is not None and token.expires_at < now):
        raise AuthenticationFailed("invalid credentials: the user is inactive or the token expired")
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
    return Principal(
        user_id=user.id,
        name=user.name,
        role=Role(user.role),
        workspace_ids=tuple(user.workspace_ids),
    )
