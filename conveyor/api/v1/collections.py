"""The standard routes of a native collection: list, create, get, update and delete.

Every resource of `/api/v1` answers these five requests the same way — a service call
in the request's transaction, its row turned into the resource's output model — so one
function declares them from what the resource's service offers, and a route module adds
only what is particular to it (a connection's test, a job's execute). The list route
documents the list conventions of `services/listing.py` with the resource's own
filterable fields, so `/openapi.json` says which query parameters each list takes.

This module does not use postponed annotations: the routes' body types are the
resource's own models, which FastAPI must see as real types when it reads the signature.
"""

import datetime as dt
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import InstrumentedAttribute

from conveyor.api.deps import Ctx
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.services.context import Context
from conveyor.services.listing import DEFAULT_LIMIT, MAX_LIMIT, Paged

Row = Any  # the service's ORM row: only the service reads it


@dataclass(frozen=True)
class Collection:
    """What the standard routes of one collection need from its service.

    `name` is the singular noun (`connection`): it names the path parameter
    (`connection_id`) and the operations (`get_connection`, `list_connections`).
    An operation the resource does not have (runs are not created here) is `None`.
    """

    name: str
    out: type[BaseModel]
    fields: Mapping[str, InstrumentedAttribute[Any]]
    list_: Callable[[Context, Mapping[str, str]], Paged[Row]]
    get: Callable[[Context, str], Row]
    to_out: Callable[[Context, Row], BaseModel]
    to_outs: Callable[[Context, Sequence[Row]], Sequence[BaseModel]] | None = None
    create: tuple[type[BaseModel], Callable[[Context, Any], Row]] | None = None
    update: tuple[type[BaseModel], Callable[[Context, str, Any], Row]] | None = None
    delete: Callable[[Context, str], None] | None = None
    default_sort: str = "name"

    @classmethod
    def of(
        cls,
        name: str,
        service: ModuleType,
        out: type[BaseModel],
        create: type[BaseModel] | None = None,
        update: type[BaseModel] | None = None,
        *,
        delete: bool = True,
        sort: str = "name",
    ) -> "Collection":
        """The collection a service module offers by convention: `FIELDS`, `list_`,
        `get`, `to_out` (with or without the context), `to_outs` where a page is shown
        in fewer queries than row by row, and `create`, `update` and `delete` where
        their bodies are given. An update whose service takes the
        changes (a mapping of the fields sent) gets them from the partial body."""
        to_out = service.to_out
        takes_context = len(inspect.signature(to_out).parameters) == 2
        changes = update is not None and "changes" in inspect.signature(service.update).parameters
        return cls(
            name=name,
            out=out,
            fields=service.FIELDS,
            list_=service.list_,
            get=service.get,
            to_out=to_out if takes_context else lambda ctx, row: to_out(row),
            to_outs=getattr(service, "to_outs", None),
            create=None if create is None else (create, service.create),
            update=None
            if update is None
            else (update, _with_changes(service.update) if changes else service.update),
            delete=service.delete if delete else None,
            default_sort=sort,
        )

    @property
    def plural(self) -> str:
        """The collection's noun in the plural, as in its operations' names."""
        return f"{self.name}s"


def add_routes(router: APIRouter, c: Collection) -> None:
    """Declare the collection's list, create, get, update and delete routes on `router`."""
    key = f"{c.name}_id"
    Key = Annotated[str, Path(alias=key, description=f"The {c.name}'s id.")]
    item = f"/{{{key}}}"

    def declare(
        path: str, method: str, action: str, endpoint: Callable[..., Any], **kw: Any
    ) -> None:
        noun = c.plural if action == "list" else c.name
        article = "" if action == "list" else "a "
        summary = f"{action.capitalize()} {article}{noun}"
        router.add_api_route(
            path, endpoint, methods=[method], name=f"{action}_{noun}", summary=summary, **kw
        )

    def list_items(ctx: Ctx, request: Request) -> Page[Any]:
        paged = c.list_(ctx, request.query_params)
        if c.to_outs is None:
            return page_of(paged, lambda row: c.to_out(ctx, row))
        items = list(c.to_outs(ctx, paged.rows))
        return Page(items=items, total=paged.total, limit=paged.limit, offset=paged.offset)

    parameters = list_parameters(c.fields, c.default_sort)
    page_model = Page[c.out]  # type: ignore[name-defined]
    declare(
        "",
        "GET",
        "list",
        list_items,
        response_model=page_model,
        openapi_extra={"parameters": parameters},
    )

    if c.create is not None:
        create_model, create = c.create

        def create_item(ctx: Ctx, body: Annotated[Any, Body()]) -> Any:
            return c.to_out(ctx, create(ctx, body))

        create_item.__annotations__["body"] = Annotated[create_model, Body()]
        declare("", "POST", "create", create_item, status_code=201, response_model=c.out)

    def get_item(ctx: Ctx, item_id: Key) -> Any:
        return c.to_out(ctx, c.get(ctx, item_id))

    declare(item, "GET", "get", get_item, response_model=c.out)

    if c.update is not None:
        update_model, update = c.update

        def update_item(ctx: Ctx, item_id: Key, body: Annotated[Any, Body()]) -> Any:
            return c.to_out(ctx, update(ctx, item_id, body))

        update_item.__annotations__["body"] = Annotated[update_model, Body()]
        declare(item, "PATCH", "update", update_item, response_model=c.out)

    if c.delete is not None:
        delete = c.delete

        def delete_item(ctx: Ctx, item_id: Key) -> None:
            delete(ctx, item_id)

        declare(item, "DELETE", "delete", delete_item, status_code=204, response_class=Response)


def _with_changes(update: Callable[[Context, str, Any], Row]) -> Callable[[Context, str, Any], Row]:
    def apply(ctx: Context, key: str, body: BaseModel) -> Row:
        return update(ctx, key, body.model_dump(exclude_unset=True))

    return apply


def list_parameters(
    fields: Mapping[str, InstrumentedAttribute[Any]], default_sort: str
) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of a list: paging, sort, and a filter per field.

    Each field filters by equality and by `__in` (comma-separated); ordered ones
    (numbers and times) also by `__gte` and `__lte`.
    """
    names = ", ".join(sorted(fields))
    parameters: list[dict[str, Any]] = [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                         "default": DEFAULT_LIMIT}, "How many items at most."),
        _query("offset", {"type": "integer", "minimum": 0, "default": 0},
               "How many matching items to skip."),
        _query("sort", {"type": "string", "default": default_sort},
               f"Comma-separated fields, `-` for descending; sortable: {names}."),
    ]  # fmt: skip
    for name, column in sorted(fields.items()):
        schema = _schema(column)
        parameters.append(_query(name, schema, f"Only items whose {name} equals this."))
        parameters.append(
            _query(f"{name}__in", {"type": "string"}, f"Only items whose {name} is one of these.")
        )
        if schema.get("type") in ("integer", "number") or schema.get("format") == "date-time":
            parameters.append(_query(f"{name}__gte", schema, f"Only items with {name} ≥ this."))
            parameters.append(_query(f"{name}__lte", schema, f"Only items with {name} ≤ this."))
    return parameters


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _schema(column: InstrumentedAttribute[Any]) -> dict[str, Any]:
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # a type without one (JSON) is compared as text
        return {"type": "string"}
    if python_type is bool:
        return {"type": "boolean"}
    if python_type is int:
        return {"type": "integer"}
    if python_type is float:
        return {"type": "number"}
    if python_type is dt.datetime:
        return {"type": "string", "format": "date-time"}
    return {"type": "string"}
