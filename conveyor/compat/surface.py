"""The Elastic facade's hook into the app's error handler, until it plugs in a shape itself.

Error rendering lives once, in `conveyor.api.problems`: one handler turns every failure
into a `Failure` and renders it with the shape of the surface its path belongs to. The
Elastic facade still renders from the exception (`elastic_errors.render`), so `install`
adapts such a renderer into a shape, and `under` is the handler's own prefix test. Once
`compat.elastic` calls `problems.add_shape` with a shape of its own, this module goes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from starlette.responses import Response

from conveyor.api import problems
from conveyor.api.problems import Failure, under

__all__ = ["install", "under"]

Render = Callable[[Request, Exception], Awaitable[Response]]


def install(app: FastAPI, prefix: str, render: Render) -> None:
    """Render every failure under `prefix` with `render`, from the exception itself."""

    async def shape(request: Request, failure: Failure) -> Response:
        return await render(request, failure.error)

    problems.add_shape(app, prefix, shape)
