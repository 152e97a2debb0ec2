"""Recovering admin access: a new token for an admin, issued by whoever holds the store.

The first admin's token is shown once. Whoever lost it but can open the data directory
(or the `CONVEYOR_DATABASE_URL` store) already holds everything the token guards, so
`conveyor admin reset-token` issues a new one there, without a token. An inactive admin
is made active again: being locked out is what is being repaired.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from conveyor.domain import Role
from conveyor.errors import ConfigurationError, InvalidInput
from conveyor.schemas.users import TokenCreate, TokenCreated
from conveyor.services.context import Context
from conveyor.services.users import issue_token
from conveyor.store.models import Token, User


@dataclass(frozen=True)
class ResetToken:
    """What a reset did: whose token, the token (shown once), and what else changed."""

    user_name: str
    user_id: str
    created: TokenCreated
    reactivated: bool
    revoked: int
    """The user's earlier tokens that were revoked."""


def _admin(ctx: Context, name: str | None) -> User:
    admins = select(User).where(User.role == Role.admin.value)
    if name is not None:
        found = ctx.session.scalars(admins.where((User.name == name) | (User.id == name))).first()
        if found is None:
            raise InvalidInput(f"no admin named {name!r}", field="user")
        return found
    ordered = admins.order_by(User.active.desc(), User.created_at)
    first = ctx.session.scalars(ordered.limit(1)).first()
    if first is None:
        raise ConfigurationError(
            "the store has no admin yet: start `conveyor serve` once, which creates one"
        )
    return first


def reset_admin_token(
    ctx: Context, user: str | None = None, *, revoke_others: bool = False
) -> ResetToken:
    """A new token for the named admin (by name or id), or else for the oldest active
    admin; with `revoke_others`, that admin's earlier tokens stop working."""
    admin = _admin(ctx, user)
    reactivated = not admin.active
    admin.active = True
    revoked = 0
    if revoke_others:  # through the session: a committed delete forgets cached tokens
        for token in ctx.session.scalars(select(Token).where(Token.user_id == admin.id)):
            ctx.session.delete(token)
            revoked += 1
    created = issue_token(ctx, admin, TokenCreate(name="reset by conveyor admin reset-token"))
    return ResetToken(admin.name, admin.id, created, reactivated, revoked)
