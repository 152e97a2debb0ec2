"""JSON:API documents for the sync service facade (`/sync/jobs`, `/sync/exports`).

Shared by every JSON:API resource of the facade:

- query parameters: `page[number]` (from 1), `page[size]` (default 1000), `sort`
  (`-created_at,priority`), `count=true` (the total in `meta.count`),
  `filter[field]`, `filter[field__in|__gte|__lte]`, `fields` (or `fields[type]`) and
  `included` (or `include`), each checked against what the resource declares — an
  unknown one is a 400 naming the parameter;
- documents: `{"data", "included", "meta", "links", "jsonapi"}` with resource objects
  `{"type", "id", "attributes", "relationships", "links"}`;
- errors: `{"errors": [{"status", "code", "title", "detail", "source"}]}`;
- media type `application/vnd.api+json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse, Response

from conveyor.api.problems import ErrorDoc, Failure
from conveyor.errors import ConveyorError, InvalidInput
from conveyor.services import listing

MEDIA_TYPE = "application/vnd.api+json"
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000
VERSION = {"version": "1.1"}
T = TypeVar("T")


class Document(JSONResponse):
    """A JSON:API answer, as route declarations name it (so OpenAPI says its media type)."""

    media_type = MEDIA_TYPE


class BadParameter(ConveyorError):
    """The request has a query parameter this resource does not support."""

    status_code = 400

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail, parameter=parameter)
        self.parameter = parameter


def filters(
    *, equal: Iterable[str] = (), one_of: Iterable[str] = (), ranged: Iterable[str] = ()
) -> dict[str, frozenset[str]]:
    """A resource's filters, by the operators its fields take: `filter[x]` alone (`equal`),
    also `filter[x__in]` (`one_of`), or also `filter[x__gte]` and `filter[x__lte]`
    (`ranged`)."""
    return {
        **dict.fromkeys(equal, frozenset({""})),
        **dict.fromkeys(one_of, frozenset({"", "in"})),
        **dict.fromkeys(ranged, frozenset({"", "gte", "lte"})),
    }


@dataclass(frozen=True)
class Resource:
    """What a resource type supports: its filters (field → operators) and relationships."""

    type: str
    filters: Mapping[str, frozenset[str]]
    sortable: frozenset[str]
    includable: frozenset[str] = frozenset()


def _parameter(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind},
    }


def show_parameters(resource: Resource) -> dict[str, Any]:
    """OpenAPI's `parameters` of a show request (route `openapi_extra`): the query is read
    by `parse_show`, not by FastAPI, so it is declared here."""
    return {
        "parameters": [
            _parameter("fields", "Attributes to show, comma-separated (`fields[type]` too)."),
            _parameter(
                "included",
                "Related resources to include: " + ", ".join(sorted(resource.includable)),
            ),
        ]
    }


def index_parameters(resource: Resource) -> dict[str, Any]:
    """OpenAPI's `parameters` of an index request: the page, sort, count, sparse fields,
    inclusions, and one `filter[field]` (`__in`, `__gte`, `__lte`) per filter declared."""
    filters = [
        _parameter(f"filter[{name}{'__' + op if op else ''}]", f"Filter by {name}.")
        for name, ops in sorted(resource.filters.items())
        for op in sorted(ops)
    ]
    return {
        "parameters": [
            _parameter("page[number]", "The page, from 1.", "integer"),
            _parameter("page[size]", f"Resources per page, at most {MAX_PAGE_SIZE}.", "integer"),
            _parameter(
                "sort",
                "Comma-separated attributes, `-` for descending: "
                + ", ".join(sorted(resource.sortable)),
            ),
            _parameter("count", "`true` puts the total in `meta.count`.", "boolean"),
            *show_parameters(resource)["parameters"],
            *filters,
        ]
    }


@dataclass(frozen=True)
class IndexQuery:
    """A parsed index request."""

    number: int = 1
    size: int = DEFAULT_PAGE_SIZE
    sort: tuple[str, ...] = ()
    count: bool = False
    filters: tuple[tuple[str, str, str], ...] = ()
    fields: dict[str, frozenset[str]] = field(default_factory=dict)
    included: tuple[str, ...] = ()

    def list_params(self) -> listing.ListParams:
        """The same request in the services' list vocabulary."""
        offset = (self.number - 1) * self.size
        return listing.ListParams(self.size, offset, self.sort, self.filters)


def _int(params: QueryParams, name: str, default: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, f"{name} must be an integer") from None
    if not 1 <= value <= high:
        raise BadParameter(name, f"{name} must be between 1 and {high}")
    return value


def _names(params: QueryParams, name: str) -> list[str]:
    return [p.strip() for raw in params.getlist(name) for p in raw.split(",") if p.strip()]


def sparse_fields(params: QueryParams, resource: Resource) -> dict[str, frozenset[str]]:
    """`fields=a,b` (the primary type) and `fields[type]=a,b`."""
    chosen: dict[str, frozenset[str]] = {}
    for key in params:
        if key == "fields":
            chosen[resource.type] = frozenset(_names(params, key))
        elif key.startswith("fields[") and key.endswith("]"):
            chosen[key[7:-1]] = frozenset(_names(params, key))
    return chosen


def inclusions(params: QueryParams, resource: Resource) -> tuple[str, ...]:
    """`included=a,b` (this service's name), `included[]=a` or JSON:API's `include=a,b`."""
    names = [n for key in ("included", "included[]", "include") for n in _names(params, key)]
    for name in names:
        if name not in resource.includable:
            allowed = ", ".join(sorted(resource.includable)) or "none"
            raise BadParameter("included", f"cannot include {name!r}; includable: {allowed}")
    return tuple(dict.fromkeys(names))


SHOW_PARAMS = frozenset({"fields", "included", "included[]", "include"})


def parse_show(params: QueryParams, resource: Resource) -> IndexQuery:
    """The parameters of a show request: `fields` and `included`."""
    for key in params:
        if key not in SHOW_PARAMS and not key.startswith("fields["):
            raise BadParameter(key, f"unknown query parameter {key!r}")
    return IndexQuery(fields=sparse_fields(params, resource), included=inclusions(params, resource))


def parse_index(params: QueryParams, resource: Resource) -> IndexQuery:
    """The parameters of an index request, checked against the resource."""
    filters: list[tuple[str, str, str]] = []
    for key in params:
        if key in SHOW_PARAMS or key.startswith("fields[") or key in ("sort", "count"):
            continue
        if key in ("page[number]", "page[size]"):
            continue
        if not (key.startswith("filter[") and key.endswith("]")):
            raise BadParameter(key, f"unknown query parameter {key!r}")
        name, _, op = key[7:-1].partition("__")
        if op not in resource.filters.get(name, frozenset()) and not (
            op == "" and name in resource.filters
        ):
            raise BadParameter(key, f"cannot filter by {key[7:-1]!r}")
        filters.append((name, op or "eq", params[key]))
    sort = tuple(p.strip() for p in params.get("sort", "").split(",") if p.strip())
    for part in sort:
        if part.lstrip("-+") not in resource.sortable:
            raise BadParameter("sort", f"cannot sort by {part.lstrip('-+')!r}")
    count = params.get("count", "false").lower()
    if count not in ("true", "false", "1", "0", ""):
        raise BadParameter("count", "count must be true or false")
    return IndexQuery(
        number=_int(params, "page[number]", 1, 10**9),
        size=_int(params, "page[size]", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        sort=sort,
        count=count in ("true", "1"),
        filters=tuple(filters),
        fields=sparse_fields(params, resource),
        included=inclusions(params, resource),
    )


async def attributes(request: Request, field: str, type_: str | None = None) -> Any:
    """What a request's body says: the attributes of `{"data": {"type", "attributes"}}`, or
    the bare body; None when there is none. A body that is not JSON is refused as a bad
    `field`; with `type_`, so is a `data.type` naming another type."""
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON", field=field) from None
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        if type_ is not None and body["data"].get("type", type_) != type_:
            raise InvalidInput(f"data.type must be {type_!r}", field="type")
        body = body["data"].get("attributes") or {}
    return body


def resource_object(
    type_: str,
    id_: str,
    attributes: dict[str, Any],
    relationships: dict[str, Any] | None = None,
    links: dict[str, str] | None = None,
    fields: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, Any]:
    """A resource object, its attributes and relationships trimmed by sparse fieldsets."""
    wanted = (fields or {}).get(type_)
    obj: dict[str, Any] = {"type": type_, "id": id_}
    obj["attributes"] = {k: v for k, v in attributes.items() if wanted is None or k in wanted}
    if relationships:
        obj["relationships"] = {
            k: v for k, v in relationships.items() if wanted is None or k in wanted
        }
    if links:
        obj["links"] = links
    return obj


def page_links(request: Request, query: IndexQuery, total: int) -> dict[str, str | None]:
    """self, first, prev, next and last links of an index page."""
    last = max(1, -(-total // query.size))
    base = {k: v for k, v in request.query_params.multi_items() if not k.startswith("page[")}

    def link(number: int) -> str:
        params = [*base.items(), ("page[number]", str(number)), ("page[size]", str(query.size))]
        return f"{request.url.path}?{urlencode(params)}"

    return {
        "self": link(query.number),
        "first": link(1),
        "prev": link(query.number - 1) if query.number > 1 else None,
        "next": link(query.number + 1) if query.number < last else None,
        "last": link(last),
    }


def index_document(
    request: Request,
    query: IndexQuery,
    data: list[dict[str, Any]],
    total: int,
    included: Callable[[], list[dict[str, Any]]],
) -> dict[str, Any]:
    """An index page: its resources, what `include` asked for, `meta.count`, page links."""
    body: dict[str, Any] = {"data": data}
    if query.included:
        body["included"] = included()
    if query.count:
        body["meta"] = {"count": total}
    body["links"] = page_links(request, query, total)
    return body


def index(
    request: Request,
    resource: Resource,
    fetch: Callable[[IndexQuery], listing.Paged[T]],
    render: Callable[[T, dict[str, frozenset[str]]], dict[str, Any]],
    included: Callable[[list[T], IndexQuery], list[dict[str, Any]]],
    parameter: Callable[[str], str] = str,
) -> Response:
    """An index request answered: its parameters checked, the rows listed by a service (a
    filter the service refuses is a 400 naming the parameter, under the resource's name
    for the field: `parameter`), each rendered, and what `included` asks for added."""
    query = parse_index(request.query_params, resource)
    try:
        page = fetch(query)
    except InvalidInput as exc:
        raise BadParameter(f"filter[{parameter(str(exc.field))}]", exc.message) from exc
    data = [render(row, query.fields) for row in page.rows]
    document = index_document(request, query, data, page.total, lambda: included(page.rows, query))
    return respond(document)


def respond(body: dict[str, Any] | None, status: int = 200, **headers: str) -> Response:
    """A JSON:API answer (no body for 204)."""
    content = b"" if body is None else json.dumps({**body, "jsonapi": VERSION}, default=str)
    return Response(content, status_code=status, media_type=MEDIA_TYPE, headers=headers or None)


def error_document(status: int, detail: str, title: str, source: dict[str, str] | None) -> Response:
    error: dict[str, Any] = {"status": str(status), "title": title, "detail": detail}
    if source:
        error["source"] = source
    return respond({"errors": [error]}, status)


ERROR_DOC = ErrorDoc(
    "JSONAPIErrors",
    {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["status", "title", "detail"],
                    "properties": {
                        "status": {"type": "string"},
                        "title": {"type": "string"},
                        "detail": {"type": "string"},
                        "source": {
                            "type": "object",
                            "properties": {
                                "pointer": {"type": "string"},
                                "parameter": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "jsonapi": {"type": "object"},
        },
    },
    MEDIA_TYPE,
)
"""`shape`'s answers, as the OpenAPI document describes them."""


async def shape(request: Request, failure: Failure) -> Response:
    """Any failure under a JSON:API prefix, as a JSON:API errors document: a bad query
    parameter names it (`source.parameter`), a bad attribute points at it, and a request
    the framework could not read is a 400, as the reference answers it."""
    if isinstance(failure.error, BadParameter):
        parameter = {"parameter": failure.error.parameter}
        return error_document(400, failure.detail, failure.title, parameter)
    if failure.errors:
        return error_document(400, failure.detail, "Bad request", None)
    field_name = failure.extra.get("field")
    source = {"pointer": f"/data/attributes/{field_name}"} if field_name else None
    return error_document(failure.status, failure.detail, failure.title, source)
