"""Elasticsearch's security API on Conveyor's users: roles and users an Elasticsearch
client creates (`/_security/role`, `/_security/user`) become Conveyor users.

An Elasticsearch role is stored as Elasticsearch takes it (`elastic_roles`); what it
lets a user do is `policy.elastic_roles`'s decision. An Elasticsearch user *is* a
Conveyor user of the same name — its password is the user's password, so Basic
`user:password` signs it in as Elasticsearch clients send it — whose role follows from
its Elasticsearch roles (`elastic_users` keeps those, and the full name, email and
metadata). Changing or deleting a role re-decides the role of every user given it.
Only admins manage them, as only `manage_security` may in Elasticsearch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from conveyor.domain import Role
from conveyor.errors import InvalidInput
from conveyor.policy.elastic_roles import conveyor_role
from conveyor.schemas.users import UserCreate, UserUpdate
from conveyor.services import users
from conveyor.services.context import Context
from conveyor.store.models import ElasticRole, ElasticUser, User


@dataclass(frozen=True)
class SecurityUser:
    """A user as Elasticsearch's security API shows it."""

    username: str
    roles: list[str]
    full_name: str | None
    email: str | None
    metadata: dict[str, Any]
    enabled: bool


def _definitions(ctx: Context) -> dict[str, dict[str, Any]]:
    return {row.name: row.definition for row in ctx.session.scalars(select(ElasticRole))}


def _recompute(ctx: Context, role_name: str) -> None:
    """Re-decide the Conveyor role of every user given the Elasticsearch role."""
    definitions = _definitions(ctx)
    for extra in ctx.session.scalars(select(ElasticUser)):
        if role_name in extra.roles:
            wanted = conveyor_role(extra.roles, definitions)
            user = ctx.session.get(User, extra.user_id)
            if user is not None and user.role != wanted.value:
                users.update(ctx, user.id, UserUpdate(role=wanted))


def put_role(ctx: Context, name: str, definition: Mapping[str, Any]) -> bool:
    """Create or replace a role; whether it was created."""
    ctx.principal.require_admin()
    row = ctx.session.get(ElasticRole, name)
    created = row is None
    if row is None:
        row = ElasticRole(name=name)
        ctx.session.add(row)
    row.definition = dict(definition)
    ctx.session.flush()
    _recompute(ctx, name)
    return created


def roles(ctx: Context, names: list[str]) -> dict[str, dict[str, Any]]:
    """The roles named (all when none is), by name."""
    ctx.principal.require_admin()
    found = _definitions(ctx)
    return {name: found[name] for name in (names or sorted(found)) if name in found}


def delete_role(ctx: Context, name: str) -> bool:
    """Delete a role; whether it existed. Its users lose what it granted."""
    ctx.principal.require_admin()
    row = ctx.session.get(ElasticRole, name)
    if row is None:
        return False
    ctx.session.delete(row)
    ctx.session.flush()
    _recompute(ctx, name)
    return True


def put_user(
    ctx: Context,
    username: str,
    *,
    roles: list[str],
    password: str | None = None,
    full_name: str | None = None,
    email: str | None = None,
    metadata: dict[str, Any] | None = None,
    enabled: bool = True,
) -> bool:
    """Create or update the Conveyor user `username` with the role its Elasticsearch
    roles grant; whether it was created. A new user needs a password."""
    ctx.principal.require_admin()
    role = conveyor_role(roles, _definitions(ctx))
    user = ctx.session.scalar(select(User).where(User.name == username))
    created = user is None
    if user is None:
        if not password:
            raise InvalidInput(
                "password must be specified unless you are updating an existing user"
            )
        user = users.create(ctx, UserCreate(name=username, role=role, active=enabled), password)
    else:
        user = users.update(ctx, user.id, UserUpdate(role=role, active=enabled), password)
    extra = ctx.session.get(ElasticUser, user.id) or ElasticUser(user_id=user.id)
    extra.roles = list(roles)
    extra.details = {"full_name": full_name, "email": email, "metadata": metadata or {}}
    ctx.session.add(extra)
    return created


def _shown(user: User, extra: ElasticUser | None) -> SecurityUser:
    details = extra.details if extra is not None else {}
    return SecurityUser(
        username=user.name,
        roles=list(extra.roles) if extra is not None else [],
        full_name=details.get("full_name"),
        email=details.get("email"),
        metadata=details.get("metadata") or {"conveyor_role": Role(user.role).value},
        enabled=user.active,
    )


def users_named(ctx: Context, names: list[str]) -> list[SecurityUser]:
    """The users named (every user when none is), by name."""
    ctx.principal.require_admin()
    statement = select(User).order_by(User.name)
    if names:
        statement = statement.where(User.name.in_(names))
    return [
        _shown(user, ctx.session.get(ElasticUser, user.id))
        for user in ctx.session.scalars(statement)
    ]


def delete_user(ctx: Context, username: str) -> bool:
    """Delete a user and their tokens; whether they existed."""
    ctx.principal.require_admin()
    user = ctx.session.scalar(select(User).where(User.name == username))
    if user is None:
        return False
    users.delete(ctx, user.id)
    return True
