"""Routes of Elasticsearch's security API subset, `/_security/role` and `/_security/user`.

Enough of it for an Elasticsearch client to give someone read-only or read-write access:
a role is a list of index privileges, a user a password and roles; both map onto
Conveyor's users and roles (`services.elastic.security`, decided by
`policy.elastic_roles`). Answers are Elasticsearch's: `{"role": {"created"}}`,
`{"created"}`, `{"found"}`, `{<name>: …}` — and a bare `{}` with 404 for a name that
does not exist, as Elasticsearch answers a get of an unknown role or user.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict, Field, StrictStr

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.compat.elastic.params import Body, list_param, parse, query
from conveyor.compat.elastic.parts import Part
from conveyor.compat.elastic.protocol import ElasticError, answer, fields_of
from conveyor.compat.elastic.schemas import ElasticBody
from conveyor.services.elastic import security

router = APIRouter(route_class=UnitRoute, prefix="/_security", tags=["elastic security"])
_NAME = re.compile(r"^[^\x00-\x1f:]{1,200}$")
MISSING: dict[int | str, dict[str, Any]] = {
    404: {
        "description": 'No such name: `{}` for a get, `{"found": false}` for a delete.',
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
"""How Elasticsearch answers a name it does not know: an object, not an error."""


def _got(request: Request, found: dict[str, Any], names: list[str]) -> Response:
    """A get's answer: the roles or users found by name; 404 (with what was found) when
    names were asked and none exists, while a get of all is 200 even when empty."""
    return answer(request, found, 200 if found or not names else 404)


def _deleted(request: Request, found: bool) -> Response:
    """A delete's answer: `{"found"}`, with 404 when there was no such name."""
    return answer(request, {"found": found}, 200 if found else 404)


class IndexPrivileges(Part):
    """Privileges on indices (`names` may be patterns)."""

    model_config = ConfigDict(extra="allow")
    names: StrictStr | list[StrictStr]
    privileges: list[StrictStr] = Field(min_length=1)


class RolePut(ElasticBody, parser="role_descriptor"):
    """`PUT /_security/role/{name}`."""

    model_config = ConfigDict(extra="forbid")
    applications: list[dict[str, Any]] | None = None
    cluster: list[StrictStr] | None = None
    description: StrictStr | None = None
    global_: dict[str, Any] | None = Field(default=None, alias="global")
    indices: list[IndexPrivileges] | None = None
    metadata: dict[str, Any] | None = None
    remote_cluster: list[dict[str, Any]] | None = None
    remote_indices: list[dict[str, Any]] | None = None
    run_as: list[StrictStr] | None = None
    transient_metadata: dict[str, Any] | None = None


class UserPut(ElasticBody, parser="put_user_request"):
    """`PUT /_security/user/{username}`: a new user needs a password."""

    email: StrictStr | None = None
    enabled: bool = True
    full_name: StrictStr | None = None
    metadata: dict[str, Any] | None = None
    password: StrictStr | None = None
    roles: list[StrictStr]


def _named(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise ElasticError.validation_failed(f"{what} name [{name}] is not valid")
    return name


@router.put("/role/{name}")
@router.post("/role/{name}", include_in_schema=False)
def put_role(ctx: Ctx, request: Request, name: str, body: Body) -> Response:
    query(request, ("refresh",))
    data = parse(RolePut, body)
    definition = data.model_dump(mode="json", exclude_unset=True, by_alias=True)
    created = security.put_role(ctx, _named(name, "role"), definition)
    return answer(request, {"role": {"created": created}})


@router.get("/role")
@router.get("/role/{name}", responses=MISSING)
def get_roles(ctx: Ctx, request: Request, name: str = "") -> Response:
    query(request)
    names = list_param({"name": name}, "name")
    found = security.roles(ctx, names)
    return _got(request, found, names)


@router.delete("/role/{name}", responses=MISSING)
def delete_role(ctx: Ctx, request: Request, name: str) -> Response:
    query(request, ("refresh",))
    found = security.delete_role(ctx, name)
    return _deleted(request, found)


@router.put("/user/{username}")
@router.post("/user/{username}", include_in_schema=False)
def put_user(ctx: Ctx, request: Request, username: str, body: Body) -> Response:
    query(request, ("refresh",))
    data = parse(UserPut, body)
    created = security.put_user(
        ctx,
        _named(username, "user"),
        roles=data.roles,
        password=data.password,
        full_name=data.full_name,
        email=data.email,
        metadata=data.metadata,
        enabled=data.enabled,
    )
    return answer(request, {"created": created})


@router.get("/user")
@router.get("/user/{username}", responses=MISSING)
def get_users(ctx: Ctx, request: Request, username: str = "") -> Response:
    query(request, ("with_profile_uid",))
    names = list_param({"username": username}, "username")
    found = {user.username: fields_of(user) for user in security.users_named(ctx, names)}
    return _got(request, found, names)


@router.delete("/user/{username}", responses=MISSING)
def delete_user(ctx: Ctx, request: Request, username: str) -> Response:
    query(request, ("refresh",))
    found = security.delete_user(ctx, username)
    return _deleted(request, found)
