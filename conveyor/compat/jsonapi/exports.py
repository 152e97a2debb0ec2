"""`/sync/exports`: the files runs wrote, as the JSON:API sync service's `sync:exports`.

An export is one file; its `job` is the `sync:jobs` resource (the Conveyor run) that
wrote it, its `project` the workspace, `created_by` the user who started the run, and
`file_id` the id of the native file (`/api/v1/files/{file_id}`, the same as the export's
id). Its attributes: `job_id project_id created_by_id file_id filename mime_type size
created_at`, plus `path`, `sha256` and `definition_id` (the Conveyor job).

- index: `page[number]`, `page[size]` (1000), `sort` (newest first by default),
  `count=true`, `filter[x]` for every attribute of the reference, `__in` on ids,
  filename and mime type, `__gte`/`__lte` on size and created_at, `fields`,
  `included=job,project,created_by`;
- show, and `GET /sync/exports/{id}/download` (the file as it is, Range requests);
- `POST /sync/exports/export` with `{"data": {"type": "sync:exports", "attributes":
  {"definition_id": "<job id or external key>", "format": "xlsx"}}}` (`format` optional,
  the job's by default; the bare attributes object works too) starts an export run and
  answers 202 with its `sync:jobs` document — the exports appear under
  `filter[job_id]=<its id>` once it completed;
- `GET /sync/exports/formats?modalities=tabular,nested`: the formats supporting every
  modality named (see `services.exports`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from conveyor.api import downloads
from conveyor.api.deps import RT, Caller, Ctx, UnitRoute
from conveyor.compat.jsonapi import documents
from conveyor.compat.jsonapi.jobs import TYPES, run_resource
from conveyor.errors import InvalidInput
from conveyor.schemas.files import FileOut
from conveyor.services import exports, files, listing, run_index, runs

TYPE = "sync:exports"
PREFIX = "/sync/exports"
NATIVE = {
    "id": "id",
    "job_id": "run_id",
    "project_id": "workspace_id",
    "created_by_id": "created_by",
    "file_id": "id",
    "filename": "filename",
    "mime_type": "mime_type",
    "size": "size",
    "created_at": "created_at",
}
"""The reference's names → the native file fields they filter and sort by."""
RESOURCE = documents.Resource(
    type=TYPE,
    filters=documents.filters(
        one_of=("id", "job_id", "project_id", "created_by_id", "file_id", "filename", "mime_type"),
        ranged=("size", "created_at"),
    ),
    sortable=frozenset(NATIVE),
    includable=frozenset({"job", "project", "created_by"}),
)
POST_ATTRIBUTES = frozenset({"definition_id", "format"})
router = APIRouter(
    route_class=UnitRoute,
    prefix=PREFIX,
    tags=["json:api sync exports"],
    default_response_class=documents.Document,
)


def _ref(type_: str, ident: str | None) -> dict[str, Any]:
    return {"data": {"type": type_, "id": ident} if ident else None}


def _resource(row: FileOut, fields: dict[str, frozenset[str]]) -> dict[str, Any]:
    attributes = {
        "job_id": row.run_id,
        "project_id": row.workspace_id,
        "created_by_id": row.created_by,
        "file_id": row.id,
        "filename": row.filename,
        "mime_type": row.mime_type,
        "size": row.size,
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "path": row.path,
        "sha256": row.sha256,
        "definition_id": row.job_id,
    }
    relationships = {
        "job": _ref("sync:jobs", row.run_id),
        "project": _ref(TYPES["project"], row.workspace_id),
        "created_by": _ref(TYPES["created_by"], row.created_by),
        "definition": _ref(TYPES["definition"], row.job_id),
    }
    links = {"self": f"{PREFIX}/{row.id}", "download": f"{PREFIX}/{row.id}/download"}
    return documents.resource_object(TYPE, row.id, attributes, relationships, links, fields)


def _included(ctx: Ctx, rows: list[FileOut], query: documents.IndexQuery) -> list[dict[str, Any]]:
    if not query.included:
        return []
    found = runs.read_many(ctx, (row.run_id for row in rows))
    out: list[dict[str, Any]] = []
    if "job" in query.included:
        out += [run_resource(run, query.fields) for run in found]
    related = run_index.related(ctx, found)
    for kind in ("project", "created_by"):
        if kind in query.included:
            for ident, item in related[kind].items():
                attributes = {"name": item.name}
                out.append(
                    documents.resource_object(TYPES[kind], ident, attributes, fields=query.fields)
                )
    return out


def _native(query: documents.IndexQuery) -> listing.ListParams:
    """The index's filters and sort under the native file fields' names."""
    params = query.list_params()
    filters = tuple((NATIVE[name], op, raw) for name, op, raw in params.filters)
    sort = tuple(
        ("-" if part.startswith("-") else "") + NATIVE[part.lstrip("-+")] for part in params.sort
    )
    return listing.ListParams(params.limit, params.offset, sort, filters)


def _reference_name(field: str) -> str:
    """A native file field under the reference's name (the first that maps to it)."""
    return next((name for name, native in NATIVE.items() if native == field), field)


@router.get("", openapi_extra=documents.index_parameters(RESOURCE))
def index_exports(ctx: Ctx, request: Request) -> Response:
    return documents.index(
        request,
        RESOURCE,
        lambda query: files.list_by(ctx, _native(query)).map(files.to_out),
        _resource,
        lambda rows, query: _included(ctx, rows, query),
        _reference_name,
    )


@router.get(
    "/formats",
    openapi_extra={
        "parameters": [
            {
                "name": "modalities",
                "in": "query",
                "required": True,
                "description": "Comma-separated: " + ", ".join(exports.MODALITIES) + ".",
                "schema": {"type": "string"},
            }
        ]
    },
)
def export_formats(request: Request) -> Response:
    """The formats available for every modality asked (`modalities=a,b` or repeated)."""
    asked = [
        part
        for key in ("modalities", "modalities[]")
        for raw in request.query_params.getlist(key)
        for part in raw.split(",")
    ]
    if not any(part.strip() for part in asked):
        known = ", ".join(exports.MODALITIES)
        raise documents.BadParameter(
            "modalities", f"modalities is required: one or more of {known}"
        )
    try:
        found = exports.formats(asked)
    except InvalidInput as exc:
        raise documents.BadParameter("modalities", exc.message) from exc
    data = [
        documents.resource_object(
            "sync:formats",
            f.name,
            {
                "name": f.name,
                "extension": f.extension,
                "mime_type": f.mime_type,
                "modalities": sorted(f.modalities),
            },
        )
        for f in found
    ]
    return documents.respond({"data": data, "meta": {"modalities": exports.MODALITIES}})


async def _export_request(request: Request) -> dict[str, str]:
    """The attributes of `{"data": {"type": "sync:exports", "attributes": {…}}}` (or bare)."""
    body = await documents.attributes(request, "definition_id", TYPE)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="definition_id")
    unknown = sorted(set(body) - POST_ATTRIBUTES)
    if unknown:
        raise InvalidInput(f"unknown attributes: {', '.join(unknown)}", field=unknown[0])
    key, fmt = body.get("definition_id"), body.get("format")
    if not isinstance(key, str) or not key:
        raise InvalidInput(
            "definition_id (a job's id or external key) is required", field="definition_id"
        )
    if fmt is not None and not isinstance(fmt, str):
        raise InvalidInput("format must be a string", field="format")
    return {"definition_id": key, **({"format": fmt} if fmt else {})}


@router.post("/export", status_code=202)
async def start_export(
    rt: RT, caller: Caller, attributes: Annotated[dict[str, str], Depends(_export_request)]
) -> Response:
    """Start an export run: 202 with its `sync:jobs` document (committed before the answer)."""

    def start() -> dict[str, Any]:
        with rt.unit(caller) as ctx:
            run = exports.start(
                ctx,
                attributes["definition_id"],
                attributes.get("format"),
                exports_only=True,
                key_field="definition_id",
            )
            return run_resource(runs.to_out(run), {})

    data = await run_in_threadpool(start)
    body = {
        "data": data,
        "meta": {"exports": f"{PREFIX}?filter[job_id]={data['id']}"},
        "links": {"self": f"/sync/jobs/{data['id']}"},
    }
    return documents.respond(body, 202, Location=f"/sync/jobs/{data['id']}")


@router.get("/{export_id}", openapi_extra=documents.show_parameters(RESOURCE))
def show_export(ctx: Ctx, request: Request, export_id: str) -> Response:
    query = documents.parse_show(request.query_params, RESOURCE)
    row = files.to_out(files.get(ctx, export_id))
    body: dict[str, Any] = {"data": _resource(row, query.fields)}
    if query.included:
        body["included"] = _included(ctx, [row], query)
    body["links"] = {"self": f"{PREFIX}/{row.id}"}
    return documents.respond(body)


@router.get(
    "/{export_id}/download",
    response_class=Response,
    responses=downloads.responses("The export's file as it is."),
)
def download_export(rt: RT, caller: Caller, export_id: str) -> Response:
    """The export's file as it is (Range requests answered with 206)."""
    with rt.unit(caller, read_only=True) as ctx:
        download = files.download_file(ctx, export_id)
    return downloads.send(download)
