"""`PUT …/{id}/_<action>`: the endpoints that change one part of a connector or sync job.

Elastic's connector API has sixteen of them (`_name`, `_status`, `_filtering/_activate`,
…) and its sync job API five (`_claim`, `_stats`, …). They differ only in the body
Elasticsearch parses and the service call it becomes: each refuses unknown query
parameters, checks the id, parses its body, makes one call and answers
`{"result": "updated"}` — or `{"result": "noop"}` when the call answers False (it changed
nothing, as Elasticsearch reports an update that left a document as it was). So each is one `Action` in a table, and `mount` turns a table
into routes: a new endpoint is a new line, not a new handler.

The rule that makes one line enough: **the fields a body was sent with are the call's
keyword arguments**, nested objects as plain dicts. So a service's parameters are named
as Elastic names the body's fields, and a field the client left out is one the service
leaves alone. `mount` checks each call against its body when the module is imported.

The checks run in the order Elasticsearch runs them: the caller, a readable body, the
query parameters, the id, then the body's fields.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response

from conveyor.api.deps import Ctx
from conveyor.compat.elastic.params import parse, query, raw_body
from conveyor.compat.elastic.protocol import NOOP, UPDATED, answer
from conveyor.compat.elastic.schemas import ElasticBody
from conveyor.services.context import Context


@dataclass(frozen=True)
class Action:
    """One `PUT …/{id}/<path>` endpoint: the service call it makes, with the body it parses."""

    path: str
    """What follows the id, e.g. `_name` or `_filtering/_activate`."""
    call: Callable[..., object]
    """The service: `call(ctx, id, **fields the body was sent with)`; False means no change."""
    body: type[ElasticBody] | None = None
    """The body Elasticsearch parses; None when the endpoint reads none."""
    name: str = ""
    """The route's name (its OpenAPI operation), when the family's pattern does not fit."""


def arguments(body: ElasticBody) -> dict[str, Any]:
    """The fields the body was sent with, by name; nested objects as dicts of the fields
    they were sent with (so a service tells a field left out from one sent as null)."""
    return body.model_dump(exclude_unset=True)


def perform(ctx: Context, action: Action, key: str, body: Any) -> dict[str, str]:
    """Make the action's service call for the resource `key` with the raw `body`; the
    answer (`updated`, or `noop` when the call changed nothing)."""
    if action.body is None:
        changed = action.call(ctx, key)
    else:
        changed = action.call(ctx, key, **arguments(parse(action.body, body)))
    return NOOP if changed is False else UPDATED


def _no_body() -> None:
    """What a bodiless endpoint reads: nothing, so a stray body is never refused."""
    return None


def _endpoint(action: Action, key: str, check: Callable[[str], str]) -> Callable[..., Response]:
    read = raw_body if action.body is not None else _no_body
    title = key.replace("_", " ").title()

    def endpoint(
        ctx: Ctx,
        request: Request,
        ident: str = Path(alias=key, title=title),
        body: Any = Depends(read),
    ) -> Response:
        query(request)
        return answer(request, perform(ctx, action, check(ident), body))

    return endpoint


def _accepts(action: Action) -> None:
    """Fail at import, not at a request, when a call cannot take its body's fields."""
    fields = dict.fromkeys(action.body.model_fields) if action.body is not None else {}
    try:
        inspect.signature(action.call).bind(None, "", **fields)
    except TypeError as exc:
        raise TypeError(f"{action.path}: {action.call.__name__} {exc}") from None


def mount(
    router: APIRouter,
    key: str,
    check: Callable[[str], str],
    naming: str,
    actions: Iterable[Action],
) -> None:
    """Route each action as `PUT <router prefix>/{key}/<path>`: `check` refuses bad ids,
    `naming` (e.g. `update_{}`) names a route after its path (`_filtering/_validation`
    → `update_filtering_validation`) unless the action names itself."""
    for action in actions:
        _accepts(action)
        router.add_api_route(
            f"/{{{key}}}/{action.path}",
            _endpoint(action, key, check),
            methods=["PUT"],
            name=action.name or naming.format(action.path.replace("/", "").strip("_")),
        )
