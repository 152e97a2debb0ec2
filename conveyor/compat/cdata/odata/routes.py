"""CData Sync's v1 REST API (OData 4) under `/api.rsc/`, over the same services as `/api/v1`.

Every entity set gets the same routes, built from its `EntitySet` description:

    GET    /api.rsc/jobs                      $filter $select $top $skip $orderby $count
    GET    /api.rsc/jobs/$count               a bare number, text/plain
    GET    /api.rsc/jobs('<key>')             one entity (tasks('<JobName>'): the job's tasks)
    GET    /api.rsc/jobs('<key>')/<Prop>      {"value": …}
    GET    /api.rsc/jobs('<key>')/<Prop>/$value   the raw value, text/plain
    POST   /api.rsc/jobs                      create (201)
    PUT    /api.rsc/jobs('<key>')  (or PATCH) change; PUT /api.rsc/tasks without a key too
    DELETE /api.rsc/jobs('<key>')             204; DELETE /api.rsc/tasks?JobName=&TaskId=,
                                              DELETE /api.rsc/workspaces with a JSON {Id}

`?workspaceId=` (or `WorkspaceId` in a body) is accepted everywhere and honoured: lists
show that workspace, keys are looked up in it, new things are created in it. The actions
(`executeJob`, `getJobStatus`, …) are in `actions`, those on connections in
`connection_actions`, `createUsers` in `users`; paths are made case-insensitive by
`cdata.paths.CDataPaths`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.compat.cdata.bodies import Fields, JSONBody, requested_workspace
from conveyor.compat.cdata.odata import actions, connection_actions, users
from conveyor.compat.cdata.odata.certificates import CERTIFICATES
from conveyor.compat.cdata.odata.entities import HISTORY, WORKSPACES, EntitySet, Key, Row
from conveyor.compat.cdata.odata.expressions import resolver
from conveyor.compat.cdata.odata.jobs import JOBS, TASKS
from conveyor.compat.cdata.odata.query import QueryOptions, parameters
from conveyor.compat.cdata.odata.requests import REQUESTS
from conveyor.compat.cdata.odata.resources import CONNECTIONS, TRANSFORMATIONS
from conveyor.compat.cdata.odata.users import USERS
from conveyor.compat.cdata.responses import (
    CDataJSONResponse,
    collection,
    context_url,
    odata_error,
    plain,
)
from conveyor.errors import NotFound

ENTITY_SETS = (
    *(JOBS, TASKS, CONNECTIONS, TRANSFORMATIONS, USERS, HISTORY, WORKSPACES, REQUESTS),
    CERTIFICATES,
)
UNSUPPORTED = ("$metadata", "$batch")
PREFIX = "/api.rsc"

TEXT = {"text/plain": {"schema": {"type": "string"}}}
router = APIRouter(route_class=UnitRoute, tags=["CData Sync v1 (OData)"])


def _one(request: Request, entity: EntitySet, row: Row, status: int = 200) -> Response:
    body = {"@odata.context": context_url(request, f"{entity.name}/$entity"), **row}
    return CDataJSONResponse(body, status_code=status)


def _selected(request: Request, entity: EntitySet, rows: list[Row]) -> list[Row]:
    options = QueryOptions.parse(request.query_params, entity.properties, entity.key)
    if options.select is None:
        return rows
    return [{name: row.get(name) for name in options.select} for row in rows]


def _property(entity: EntitySet, name: str) -> str:
    found = resolver(entity.properties)(name)
    if found is None:
        raise NotFound(f"{entity.name} has no property {name!r}")
    return found


def _values(ctx: Ctx, entity: EntitySet, key: str, request: Request, prop: str) -> list[Any]:
    found = entity.get(ctx, Key.parse(key), requested_workspace(ctx, request))
    name = _property(entity, prop)
    return [row.get(name) for row in (found if isinstance(found, list) else [found])]


def _keyless_fields(request: Request, body: dict[str, Any]) -> Fields:
    """The body, and the query's own parameters: `DELETE /tasks?JobName=…&TaskId=…`."""
    query = {k: v for k, v in request.query_params.items() if not k.startswith("$")}
    return Fields({**query, **body})


def register(entity: EntitySet) -> None:
    """Add the routes of one entity set."""
    base = f"{PREFIX}/{entity.name}"
    keyed = base + "({key:path})"

    @router.get(base, name=f"cdata_list_{entity.name}", openapi_extra=parameters(entity.properties))
    def list_entities(ctx: Ctx, request: Request) -> Response:
        options = QueryOptions.parse(request.query_params, entity.properties, entity.key)
        result = entity.select(ctx, requested_workspace(ctx, request), options)
        count = result.total if options.count else None
        return collection(
            request, entity.name, result.rows, count=count, next_skip=result.next_skip
        )

    @router.get(
        base + "/$count",
        name=f"cdata_count_{entity.name}",
        response_class=PlainTextResponse,
        responses={200: {"description": "How many match: a bare number.", "content": TEXT}},
        openapi_extra={"parameters": parameters(entity.properties)["parameters"][:1]},
    )
    def count_entities(ctx: Ctx, request: Request) -> Response:
        options = QueryOptions.parse(request.query_params, entity.properties, entity.key)
        counting = dataclasses.replace(options, select=None, orderby=(), skip=0, top=0, count=True)
        total = entity.select(ctx, requested_workspace(ctx, request), counting).total
        return PlainTextResponse(str(total))

    @router.get(
        keyed + "/{prop}/$value",
        name=f"cdata_value_{entity.name}",
        response_class=PlainTextResponse,
        responses={
            200: {"description": "The raw value.", "content": TEXT},
            204: {"description": "The value is null."},
        },
    )
    def raw_value(ctx: Ctx, request: Request, key: str, prop: str) -> Response:
        values = [v for v in plain(_values(ctx, entity, key, request, prop)) if v is not None]
        if not values:
            return Response(status_code=204)
        text = "\n".join("true" if v is True else "false" if v is False else str(v) for v in values)
        return PlainTextResponse(text)

    @router.get(keyed + "/{prop}", name=f"cdata_property_{entity.name}")
    def property_value(ctx: Ctx, request: Request, key: str, prop: str) -> Response:
        values = _values(ctx, entity, key, request, prop)
        name = _property(entity, prop)
        body = {
            "@odata.context": context_url(request, f"{entity.name}({key})/{name}"),
            "value": values[0] if len(values) == 1 else values,
        }
        return CDataJSONResponse(body)

    @router.get(keyed, name=f"cdata_get_{entity.name}")
    def get_entity(ctx: Ctx, request: Request, key: str) -> Response:
        found = entity.get(ctx, Key.parse(key), requested_workspace(ctx, request))
        if isinstance(found, list):
            return collection(request, entity.name, _selected(request, entity, found))
        return _one(request, entity, _selected(request, entity, [found])[0])

    if entity.create is not None:
        create = entity.create

        @router.post(base, name=f"cdata_create_{entity.name}", status_code=201)
        def create_entity(ctx: Ctx, request: Request, body: JSONBody) -> Response:
            fields = Fields(body)
            return _one(
                request, entity, create(ctx, fields, requested_workspace(ctx, request, fields)), 201
            )

    if entity.update is not None:
        update = entity.update

        def update_entity(ctx: Ctx, request: Request, key: str, body: JSONBody) -> Response:
            fields = Fields(body)
            workspace = requested_workspace(ctx, request, fields)
            return _one(request, entity, update(ctx, Key.parse(key), fields, workspace))

        def update_keyless(ctx: Ctx, request: Request, body: JSONBody) -> Response:
            fields = _keyless_fields(request, body)
            workspace = requested_workspace(ctx, request, fields)
            return _one(request, entity, update(ctx, None, fields, workspace))

        for method in ("PUT", "PATCH"):  # one route per method: distinct OpenAPI operations
            suffix = f"{entity.name}_{method.lower()}"
            router.add_api_route(
                keyed, update_entity, methods=[method], name=f"cdata_update_{suffix}"
            )
            router.add_api_route(
                base, update_keyless, methods=[method], name=f"cdata_update_keyless_{suffix}"
            )

    if entity.delete is not None:
        delete = entity.delete

        @router.delete(keyed, name=f"cdata_delete_{entity.name}", status_code=204)
        def delete_entity(ctx: Ctx, request: Request, key: str, body: JSONBody) -> Response:
            fields = _keyless_fields(request, body)
            delete(ctx, Key.parse(key), fields, requested_workspace(ctx, request, fields))
            return Response(status_code=204)

        @router.delete(base, name=f"cdata_delete_keyless_{entity.name}", status_code=204)
        def delete_keyless(ctx: Ctx, request: Request, body: JSONBody) -> Response:
            fields = _keyless_fields(request, body)
            delete(ctx, None, fields, requested_workspace(ctx, request, fields))
            return Response(status_code=204)


@router.get(PREFIX, name="cdata_service_document")
def service_document(ctx: Ctx, request: Request) -> Response:
    """The OData service document: the entity sets and where they are."""
    sets = [{"name": e.name, "kind": "EntitySet", "url": e.name} for e in ENTITY_SETS]
    return CDataJSONResponse(
        {"@odata.context": context_url(request, "").rstrip("#"), "value": sets}
    )


for entity_set in ENTITY_SETS:
    register(entity_set)
for module in (actions, connection_actions, users):
    router.include_router(module.router)


def _unsupported(what: str) -> None:
    @router.api_route(
        f"{PREFIX}/{what}{{rest:path}}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        name=f"cdata_unsupported_{what}",
        include_in_schema=False,
    )
    def unsupported(rest: str) -> Response:
        return odata_error(501, "NotImplemented", f"{what} is not supported by Conveyor")


for unsupported_name in UNSUPPORTED:
    _unsupported(unsupported_name)
