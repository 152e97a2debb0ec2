"""CData v1's `users` entity set and its `createUsers` action.

    GET|POST /api.rsc/users   GET|PUT /api.rsc/users('<User>')   POST /api.rsc/createUsers

A row is CData's UserInfo — never a password or a token. CData's roles map onto
Conveyor's three: `cdata_admin` is admin, `cdata_standard` and `cdata_job_creator` are
standard, and `cdata_support` (the "job operator") is a viewer here, the closest role
that cannot change jobs; several roles, comma-separated, give the strongest. A user may
have a password (for Basic `user:password`) and be restricted to one workspace
(`WorkspaceId` on creation), and expire (`ExpiredIn`, days from now; 0 never) with
every token of theirs; federation is not supported.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.compat.cdata.bodies import (
    Fields,
    JSONBody,
    canonical,
    model,
    to_bool,
    to_int,
    to_text,
)
from conveyor.compat.cdata.jobs import split_list
from conveyor.compat.cdata.odata.entities import EntitySet, Key, Row, listed
from conveyor.compat.cdata.responses import collection, output
from conveyor.domain import Role, utcnow
from conveyor.errors import InvalidInput, NotFound
from conveyor.schemas.users import UserCreate, UserOut, UserUpdate
from conveyor.services import users, workspaces
from conveyor.services.context import Context

router = APIRouter(route_class=UnitRoute, tags=["CData Sync v1 (OData)"])

ROLES = {
    "cdataadmin": Role.admin,
    "admin": Role.admin,
    "cdatastandard": Role.standard,
    "standard": Role.standard,
    "cdatajobcreator": Role.standard,
    "jobcreator": Role.standard,
    "cdatasupport": Role.viewer,
    "support": Role.viewer,
    "joboperator": Role.viewer,
    "viewer": Role.viewer,
}
ROLE_NAMES = {
    Role.admin: "cdata_admin",
    Role.standard: "cdata_standard",
    Role.viewer: "cdata_support",
}
RANK = {Role.viewer: 0, Role.standard: 1, Role.admin: 2}


def role_of(value: Any, field: str = "Roles") -> Role:
    """CData's role names (several, comma-separated, give the strongest) as a Conveyor role."""
    found = [ROLES.get(canonical(part)) for part in split_list(value)]
    if not found or None in found:
        names = ", ".join(sorted(set(ROLE_NAMES.values()) | {"cdata_job_creator"}))
        raise InvalidInput(f"{field}: unknown role {value!r}; use {names}", field=field)
    return max((r for r in found if r is not None), key=RANK.__getitem__)


def expiry(value: Any, field: str = "ExpiredIn") -> dt.datetime | None:
    """`ExpiredIn`: the user (and their tokens) expire this many days from now; 0 never."""
    days = to_int(value, field)
    if days < 0:
        raise InvalidInput(f"{field}: days cannot be negative", field=field)
    return utcnow() + dt.timedelta(days=days) if days else None


def _days_left(user: UserOut) -> int | None:
    if user.expires_at is None:
        return None
    return max(0, math.ceil((user.expires_at - utcnow()) / dt.timedelta(days=1)))


def user_row(user: UserOut) -> Row:
    """A user as CData's UserInfo (never a password or a token); `ExpiredIn` is the
    days left before the user expires (None: never)."""
    return {
        "UserId": user.id,
        "User": user.name,
        "Roles": ROLE_NAMES[Role(user.role)],
        "Active": user.active,
        "FederationId": None,
        "WorkspaceIds": ",".join(user.workspace_ids),
        "ExpiredIn": _days_left(user),
        "CreationTime": user.created_at,
    }


def _unsupported_empty(fields: Fields, *names: str) -> None:
    for name in names:
        if fields.get(name) not in (None, ""):
            raise InvalidInput(f"{name} is not supported by Conveyor", field=name)


def restricted_to(ctx: Context, fields: Fields) -> list[str]:
    """The workspace a new user is restricted to (`WorkspaceId`: an id or a name), as
    the user's `workspace_ids`; none given means every workspace."""
    value = to_text(fields.get("WorkspaceId"))
    if not value:
        return []
    try:
        return [workspaces.find_id(ctx, value)]
    except NotFound:
        raise InvalidInput(f"WorkspaceId: no workspace {value!r}", field="WorkspaceId") from None


def _expires_at(fields: Fields, field: str) -> dt.datetime | None:
    value = fields.get(field)
    return None if value in (None, "") else expiry(value, field)


def create_user(ctx: Context, fields: Fields, suffix: str = "") -> UserOut:
    """A user from `User`, `Password`, `Roles`, `Active` (with `#n` for createUsers),
    restricted to the body's `WorkspaceId` when it names one."""
    name = to_text(fields.get(f"User{suffix}"))
    roles = fields.get(f"Roles{suffix}")
    active = fields.get(f"Active{suffix}")
    data = model(
        UserCreate,
        {"name": f"User{suffix}", "role": f"Roles{suffix}", "active": f"Active{suffix}"},
        name=name,
        role=role_of(roles, f"Roles{suffix}") if roles not in (None, "") else Role.standard,
        active=True if active in (None, "") else to_bool(active, f"Active{suffix}"),
        workspace_ids=restricted_to(ctx, fields),
        expires_at=_expires_at(fields, f"ExpiredIn{suffix}"),
    )
    password = fields.get(f"Password{suffix}")
    _unsupported_empty(fields, f"FederationId{suffix}")
    return users.to_out(users.create(ctx, data, password=to_text(password) or None))


def _update_user(ctx: Context, key: Key | None, fields: Fields, _ws: str | None) -> Row:
    user = users.to_out(
        users.get(ctx, (key.get("User", "UserId") if key else None) or to_text(fields.get("User")))
    )
    rename = to_text(fields.get("User")) if key else ""
    roles, active = fields.get("Roles"), fields.get("Active")
    data = model(
        UserUpdate,
        {"name": "User", "role": "Roles", "active": "Active"},
        name=rename if rename and rename != user.name else None,
        role=role_of(roles) if roles not in (None, "") else None,
        active=None if active in (None, "") else to_bool(active, "Active"),
    )
    if (days := fields.get("ExpiredIn")) not in (None, ""):
        data = data.model_copy(update={"expires_at": expiry(days)})
        data.model_fields_set.add("expires_at")
    password = to_text(fields.get("Password")) or None
    _unsupported_empty(fields, "FederationId")
    fields.refuse_unknown("WorkspaceId", "UserId")
    return user_row(users.to_out(users.update(ctx, user.id, data, password=password)))


def _create_user(ctx: Context, fields: Fields, _ws: str | None) -> Row:
    user = create_user(ctx, fields)
    fields.refuse_unknown("WorkspaceId")
    return user_row(user)


USER_FILTERS = {"User": "name", "UserId": "id"}
USERS = EntitySet(
    name="users",
    key=("User",),
    properties=(
        "UserId",
        "User",
        "Roles",
        "Active",
        "FederationId",
        "WorkspaceIds",
        "ExpiredIn",
        "CreationTime",
    ),
    rows=lambda ctx, _ws, options: [
        user_row(users.to_out(u))
        for u in listed(lambda q: users.list_(ctx, q), USER_FILTERS, options)
    ],
    get=lambda ctx, key, _ws: user_row(
        users.to_out(users.get(ctx, key.get("User", "UserId") or ""))
    ),
    create=_create_user,
    update=_update_user,
)


@router.post("/api.rsc/createusers", name="cdata_create_users")
def create_users(ctx: Ctx, request: Request, body: JSONBody) -> Response:
    """Several users at once (`User#1`, `Password#1`, `Roles#1`, …), all or none."""
    fields = Fields(body)
    created = []
    number = 1
    while fields.has(f"User#{number}"):
        created.append(user_row(create_user(ctx, fields, f"#{number}")))
        number += 1
    if not created:
        raise InvalidInput("createUsers needs User#1, Password#1, Roles#1…", field="User#1")
    fields.refuse_unknown()
    return collection(request, output("createUsers"), created)
