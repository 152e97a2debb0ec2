"""Routes of Elastic's connector API, `/_connector` (every endpoint but `_secret`).

Thin translators: parse what Elasticsearch would parse, call the connector services,
answer Elasticsearch's shapes (`{"result", "id"}`, `{"count", "results"}`,
`{"acknowledged": true}`, the connector document). The `PUT /_connector/{id}/_<part>`
endpoints are one table, `UPDATES`: each names its body and the service call (with the
fields of the body it sets) that the body becomes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.compat.elastic import schemas
from conveyor.compat.elastic.actions import Action, mount
from conveyor.compat.elastic.params import (
    WINDOW,
    Body,
    bool_param,
    documented,
    list_param,
    parse,
    query,
    required_id,
    window,
)
from conveyor.compat.elastic.protocol import ElasticError, answer, answer_page, fields_of
from conveyor.services.elastic import connectors, updates
from conveyor.services.elastic.documents import Connector

router = APIRouter(route_class=UnitRoute, prefix="/_connector", tags=["elastic connectors"])
LIST_PARAMS = (
    *("from", "size", "index_name", "connector_name", "service_type", "query"),
    "include_deleted",
)


def valid_id(connector_id: str) -> str:
    """A path's connector id: not blank, and not `_…` (Elastic's own endpoints)."""
    required_id(connector_id, "connector_id")
    if connector_id.startswith("_"):
        raise ElasticError.illegal_argument(f"connector id [{connector_id}] cannot start with '_'")
    return connector_id


def document(connector: Connector) -> dict[str, Any]:
    """Elastic's connector document: `id` first, then every other field by name."""
    fields = fields_of(connector)
    stored = fields.pop("document")
    return dict(sorted({**fields, **stored}.items(), key=lambda kv: (kv[0] != "id", kv[0])))


def _put(request: Request, ctx: Ctx, connector_id: str | None, body: Any) -> Response:
    query(request)
    data = parse(schemas.ConnectorPut, body if body is not None else {})
    connector_id, created = connectors.put(
        ctx,
        connector_id,
        index_name=data.index_name,
        name=data.name,
        description=data.description,
        service_type=data.service_type,
        is_native=bool(data.is_native),
        language=data.language,
    )
    result = "created" if created else "updated"
    return answer(request, {"result": result, "id": connector_id}, 201 if created else 200)


@router.get(
    "",
    openapi_extra=documented(
        **WINDOW,
        index_name="Only connectors of these indices, comma-separated.",
        connector_name="Only connectors of these names, comma-separated.",
        service_type="Only connectors of these service types, comma-separated.",
        query="Only connectors whose name, description or index contains this.",
        include_deleted="Include deleted connectors.",
    ),
)
def list_connectors(ctx: Ctx, request: Request) -> Response:
    params = query(request, LIST_PARAMS)
    offset, size = window(params)
    page = connectors.list_(
        ctx,
        offset,
        size,
        index_names=list_param(params, "index_name"),
        names=list_param(params, "connector_name"),
        service_types=list_param(params, "service_type"),
        query=params.get("query") or None,
        include_deleted=bool_param(params, "include_deleted"),
    )
    return answer_page(request, page, document)


PUT_ANSWERS: dict[int | str, dict[str, Any]] = {
    201: {"description": 'Created: `{"result": "created", "id"}`.'},
    200: {"description": 'Updated: `{"result": "updated", "id"}`.'},
}


@router.put("", status_code=201, responses=PUT_ANSWERS)
def put_connector_without_id(ctx: Ctx, request: Request, body: Body) -> Response:
    return _put(request, ctx, None, body)


@router.post("", status_code=201, responses=PUT_ANSWERS)
def post_connector(ctx: Ctx, request: Request, body: Body) -> Response:
    return _put(request, ctx, None, body)


@router.get("/{connector_id}")
def get_connector(ctx: Ctx, request: Request, connector_id: str) -> Response:
    params = query(request, ("include_deleted",))
    found = connectors.get(ctx, valid_id(connector_id), bool_param(params, "include_deleted"))
    return answer(request, document(found))


@router.put("/{connector_id}", status_code=201, responses=PUT_ANSWERS)
def put_connector(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    return _put(request, ctx, valid_id(connector_id), body)


@router.delete("/{connector_id}")
def delete_connector(ctx: Ctx, request: Request, connector_id: str) -> Response:
    params = query(request, ("hard", "delete_sync_jobs"))
    hard, with_jobs = bool_param(params, "hard"), bool_param(params, "delete_sync_jobs")
    connectors.delete(ctx, valid_id(connector_id), hard, with_jobs)
    return answer(request, {"acknowledged": True})


UPDATES = (
    Action("_check_in", connectors.check_in, name="check_in_connector"),
    Action("_last_sync", updates.record_last_sync, schemas.LastSyncUpdate, name="last_sync"),
    Action("_api_key_id", updates.set_api_key_id, schemas.ApiKeyIdUpdate),
    Action("_configuration", updates.configure, schemas.ConfigurationUpdate),
    Action("_error", updates.set_error, schemas.ErrorUpdate),
    Action("_features", updates.set_features, schemas.FeaturesUpdate),
    Action("_filtering", updates.set_filtering, schemas.FilteringUpdate),
    Action("_filtering/_activate", updates.activate_filtering, name="activate_filtering"),
    Action(
        "_filtering/_validation",
        updates.set_filtering_validation,
        schemas.FilteringValidationUpdate,
    ),
    Action("_index_name", updates.set_index_name, schemas.IndexNameUpdate),
    Action("_name", updates.rename, schemas.NameUpdate),
    Action("_native", updates.set_native, schemas.NativeUpdate),
    Action("_pipeline", updates.set_pipeline, schemas.PipelineUpdate),
    Action("_scheduling", updates.schedule, schemas.SchedulingUpdate),
    Action("_service_type", updates.set_service_type, schemas.ServiceTypeUpdate),
    Action("_status", updates.set_status, schemas.StatusUpdate),
)
"""Every `PUT /_connector/{connector_id}/_<part>` endpoint: its service call and body."""
mount(router, "connector_id", valid_id, "update_{}", UPDATES)
