"""`/sync/jobs`: Conveyor's runs as the JSON:API sync service's `sync:jobs`.

index (every filter of the reference, `sort`, `page`, `count`, `fields`, `included`),
show, delete (204; 409 while active), and `POST /sync/jobs/{id}/signal` with
`{"data": {"type": "sync:signals", "attributes": {"signal": "cancel" | "retry"}}}` (or
the bare `{"signal": …}`): cancel answers the job (200), retry the new job (201).
Relationships: `project` (workspace), `definition` (the Conveyor job, or the
transformation), `created_by` (user); each can be `included`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.compat.jsonapi import documents
from conveyor.errors import InvalidInput
from conveyor.schemas.runs import RunOut
from conveyor.services import run_index, run_retry, runs

TYPE = "sync:jobs"
PREFIX = "/sync/jobs"
RESOURCE = documents.Resource(
    type=TYPE,
    filters=documents.filters(
        equal=("progress", "error", "unicity"),
        one_of=("id", "job_class", "status"),
        ranged=("priority", "retry_count", "scheduled_at", "created_at", "updated_at"),
    ),
    sortable=frozenset(run_index.FIELDS),
    includable=frozenset({"project", "definition", "created_by"}),
)
TYPES = {
    "project": "sync:projects",
    "definition": "sync:definitions",
    "transformation": "sync:transformations",
    "created_by": "sync:users",
}
SIGNALS = ("cancel", "retry")
router = APIRouter(
    route_class=UnitRoute,
    prefix=PREFIX,
    tags=["json:api sync jobs"],
    default_response_class=documents.Document,
)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _ref(kind: str, ident: str | None) -> dict[str, Any]:
    return {"data": {"type": TYPES[kind], "id": ident} if ident else None}


def run_resource(run: RunOut, fields: dict[str, frozenset[str]]) -> dict[str, Any]:
    """A run as a `sync:jobs` resource object (also what `/sync/exports` includes)."""
    attributes = {
        "job_class": run_index.job_class(run),
        "priority": run.priority,
        "status": run.status,
        "progress": run.progress,
        "retry_count": run.attempt - 1,
        "error": run.error,
        "unicity": run.unicity,
        "scheduled_at": _iso(run.scheduled_at),
        "created_at": _iso(run.created_at),
        "updated_at": _iso(run.updated_at),
        "started_at": _iso(run.started_at),
        "completed_at": _iso(run.completed_at),
        "job_id": run.job_id,
        "job_name": run.job_name,
        "job_type": run.load,
        "trigger_method": run.trigger_method,
        "executor": run.executor,
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "worker_hostname": run.worker_hostname,
        "stats": run.stats.model_dump(),
    }
    definition = (
        _ref("transformation", run.transformation_id)
        if run.kind == "transformation"
        else _ref("definition", run.job_id)
    )
    relationships = {
        "project": _ref("project", run.workspace_id),
        "definition": definition,
        "created_by": _ref("created_by", run.created_by),
    }
    links = {"self": f"{PREFIX}/{run.id}"}
    return documents.resource_object(TYPE, run.id, attributes, relationships, links, fields)


def _included(ctx: Ctx, rows: list[RunOut], query: documents.IndexQuery) -> list[dict[str, Any]]:
    if not query.included:
        return []
    found = run_index.related(ctx, rows)
    kinds = [k for k in query.included] + (
        ["transformation"] if "definition" in query.included else []
    )
    out = []
    for kind in kinds:
        for ident, row in found[kind].items():
            attributes = {"name": row.name}
            if kind == "definition" and row.type is not None:
                attributes["type"] = row.type
            if kind == "created_by" and row.role is not None:
                attributes["role"] = row.role
            out.append(
                documents.resource_object(TYPES[kind], ident, attributes, fields=query.fields)
            )
    return out


def _document(ctx: Ctx, run: RunOut, query: documents.IndexQuery, **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"data": run_resource(run, query.fields)}
    if query.included:
        body["included"] = _included(ctx, [run], query)
    if meta:
        body["meta"] = meta
    body["links"] = {"self": f"{PREFIX}/{run.id}"}
    return body


@router.get("", openapi_extra=documents.index_parameters(RESOURCE))
def index_jobs(ctx: Ctx, request: Request) -> Response:
    return documents.index(
        request,
        RESOURCE,
        lambda query: run_index.list_(ctx, query.list_params()),
        run_resource,
        lambda rows, query: _included(ctx, rows, query),
    )


@router.get("/{job_id}", openapi_extra=documents.show_parameters(RESOURCE))
def show_job(ctx: Ctx, request: Request, job_id: str) -> Response:
    query = documents.parse_show(request.query_params, RESOURCE)
    return documents.respond(_document(ctx, runs.read(ctx, job_id), query))


@router.delete("/{job_id}", status_code=204)
def delete_job(ctx: Ctx, job_id: str) -> Response:
    runs.delete(ctx, job_id)
    return documents.respond(None, 204)


async def _signal(request: Request) -> str:
    """The signal of a body `{"data": {"attributes": {"signal"}}}` or `{"signal"}`."""
    body = await documents.attributes(request, "signal")
    signal = body.get("signal") if isinstance(body, dict) else None
    if signal not in SIGNALS:
        raise InvalidInput(f"signal must be one of: {', '.join(SIGNALS)}", field="signal")
    return str(signal)


@router.post(
    "/{job_id}/signal",
    responses={
        201: {"description": "Retried: the new job.", "content": {documents.MEDIA_TYPE: {}}}
    },
)
def signal_job(ctx: Ctx, job_id: str, signal: Annotated[str, Depends(_signal)]) -> Response:
    """Cancel a job (200), or retry a failed or canceled one: a new job (201)."""
    empty = documents.IndexQuery()
    if signal == "cancel":
        return documents.respond(_document(ctx, runs.to_out(runs.cancel(ctx, job_id)), empty))
    run = runs.to_out(run_retry.retry(ctx, job_id))
    body = _document(ctx, run, empty, retry_of=job_id)
    return documents.respond(body, 201, Location=f"{PREFIX}/{run.id}")
