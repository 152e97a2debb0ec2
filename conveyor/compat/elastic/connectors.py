"""Routes of Elastic's connector API, `/_connector` (every endpoint but `_secret`).

Thin translators: parse what Elasticsearch would parse, call the connector services,
answer Elasticsearch's shapes (`{"result", "id"}`, `{"count", "results"}`,
`{"acknowledged": true}`, the connector document).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from conveyor.api.deps import Ctx
from conveyor.compat.elastic.errors import ElasticError, parse, raw_body, required_id
from conveyor.compat.elastic.params import answer, bool_param, list_param, query, window
from conveyor.schemas import elastic as bodies
from conveyor.services.elastic import connectors, updates

router = APIRouter(prefix="/_connector", tags=["elastic connectors"])
Body = Annotated[Any, Depends(raw_body)]
UPDATED = {"result": "updated"}


def _id(connector_id: str) -> str:
    required_id(connector_id, "connector_id")
    if connector_id.startswith("_"):
        raise ElasticError(
            400,
            "illegal_argument_exception",
            f"connector id [{connector_id}] cannot start with '_'",
        )
    return connector_id


def _created(request: Request, ctx: Ctx, connector_id: str | None, body: Any) -> Response:
    query(request)
    data = parse(bodies.ConnectorPut, body if body is not None else {})
    row, created = connectors.put(ctx, connector_id, data)
    result = "created" if created else "updated"
    return answer(request, {"result": result, "id": row.job_id}, 201 if created else 200)


@router.get("")
def list_connectors(ctx: Ctx, request: Request) -> Response:
    params = query(
        request,
        (
            "from",
            "size",
            "index_name",
            "connector_name",
            "service_type",
            "query",
            "include_deleted",
        ),
    )
    offset, size = window(params)
    rows, total = connectors.list_(
        ctx,
        offset,
        size,
        list_param(params, "index_name"),
        list_param(params, "connector_name"),
        list_param(params, "service_type"),
        params.get("query") or None,
        bool_param(params, "include_deleted"),
    )
    results = [connectors.document(ctx, row) for row in rows]
    return answer(request, {"count": total, "results": results})


@router.put("")
def put_connector_without_id(ctx: Ctx, request: Request, body: Body) -> Response:
    return _created(request, ctx, None, body)


@router.post("")
def post_connector(ctx: Ctx, request: Request, body: Body) -> Response:
    return _created(request, ctx, None, body)


@router.get("/{connector_id}")
def get_connector(ctx: Ctx, request: Request, connector_id: str) -> Response:
    params = query(request, ("include_deleted",))
    row = connectors.get(ctx, _id(connector_id), bool_param(params, "include_deleted"))
    return answer(request, connectors.document(ctx, row))


@router.put("/{connector_id}")
def put_connector(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    return _created(request, ctx, _id(connector_id), body)


@router.delete("/{connector_id}")
def delete_connector(ctx: Ctx, request: Request, connector_id: str) -> Response:
    params = query(request, ("hard", "delete_sync_jobs"))
    connectors.delete(
        ctx, _id(connector_id), bool_param(params, "hard"), bool_param(params, "delete_sync_jobs")
    )
    return answer(request, {"acknowledged": True})


@router.put("/{connector_id}/_check_in")
def check_in_connector(ctx: Ctx, request: Request, connector_id: str) -> Response:
    query(request)
    connectors.check_in(ctx, _id(connector_id))
    return answer(request, UPDATED)


@router.put("/{connector_id}/_last_sync")
def last_sync(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.last_sync(ctx, _id(connector_id), parse(bodies.LastSyncUpdate, body))
    return answer(request, UPDATED)


@router.put("/{connector_id}/_api_key_id")
def update_api_key_id(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_api_key_id(ctx, _id(connector_id), parse(bodies.ApiKeyIdUpdate, body))
    return answer(request, UPDATED)


@router.put("/{connector_id}/_configuration")
def update_configuration(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_configuration(ctx, _id(connector_id), parse(bodies.ConfigurationUpdate, body))
    return answer(request, UPDATED)


@router.put("/{connector_id}/_error")
def update_error(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_error(ctx, _id(connector_id), parse(bodies.ErrorUpdate, body).error)
    return answer(request, UPDATED)


@router.put("/{connector_id}/_features")
def update_features(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_features(ctx, _id(connector_id), parse(bodies.FeaturesUpdate, body).features)
    return answer(request, UPDATED)


@router.put("/{connector_id}/_filtering")
def update_filtering(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_filtering(ctx, _id(connector_id), parse(bodies.FilteringUpdate, body))
    return answer(request, UPDATED)


@router.put("/{connector_id}/_filtering/_activate")
def activate_filtering(ctx: Ctx, request: Request, connector_id: str) -> Response:
    query(request)
    updates.activate_filtering(ctx, _id(connector_id))
    return answer(request, UPDATED)


@router.put("/{connector_id}/_filtering/_validation")
def update_filtering_validation(
    ctx: Ctx, request: Request, connector_id: str, body: Body
) -> Response:
    query(request)
    data = parse(bodies.FilteringValidationUpdate, body)
    updates.update_filtering_validation(ctx, _id(connector_id), data.validation)
    return answer(request, UPDATED)


@router.put("/{connector_id}/_index_name")
def update_index_name(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    data = parse(bodies.IndexNameUpdate, body)
    updates.update_index_name(ctx, _id(connector_id), data.index_name)
    return answer(request, UPDATED)


@router.put("/{connector_id}/_name")
def update_name(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_name(ctx, _id(connector_id), parse(bodies.NameUpdate, body))
    return answer(request, UPDATED)


@router.put("/{connector_id}/_native")
def update_native(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_native(ctx, _id(connector_id), parse(bodies.NativeUpdate, body).is_native)
    return answer(request, UPDATED)


@router.put("/{connector_id}/_pipeline")
def update_pipeline(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_pipeline(ctx, _id(connector_id), parse(bodies.PipelineUpdate, body).pipeline)
    return answer(request, UPDATED)


@router.put("/{connector_id}/_scheduling")
def update_scheduling(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    data = parse(bodies.SchedulingUpdate, body)
    updates.update_scheduling(ctx, _id(connector_id), data.scheduling)
    return answer(request, UPDATED)


@router.put("/{connector_id}/_service_type")
def update_service_type(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    data = parse(bodies.ServiceTypeUpdate, body)
    updates.update_service_type(ctx, _id(connector_id), data.service_type)
    return answer(request, UPDATED)


@router.put("/{connector_id}/_status")
def update_status(ctx: Ctx, request: Request, connector_id: str, body: Body) -> Response:
    query(request)
    updates.update_status(ctx, _id(connector_id), parse(bodies.StatusUpdate, body).status)
    return answer(request, UPDATED)
