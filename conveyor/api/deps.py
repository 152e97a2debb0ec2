"""Request dependencies: the runtime, one transaction per request, and the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from conveyor.runtime import Runtime
from conveyor.services.auth import authenticate
from conveyor.services.context import Context, Principal
from conveyor.store.session import unit_of_work


def runtime(request: Request) -> Runtime:
    """The app's runtime."""
    value: Runtime = request.app.state.runtime
    return value


def context(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Iterator[Context]:
    """The request's unit of work, as the authenticated caller; committed when the route returns."""
    with unit_of_work(rt.factory) as session:
        principal = authenticate(session, request.headers)
        request.state.principal = principal  # for the audit recorder
        yield rt.context(session, principal)


# scope="function": the transaction commits before the response is sent. FastAPI's default
# ("request") ends a yield dependency after sending, so a client could hear 201 before
# the commit (a second request then found nothing) or never hear that the commit failed.
Ctx = Annotated[Context, Depends(context, scope="function")]
"""A route parameter: the service context of the request."""


def caller(rt: Annotated[Runtime, Depends(runtime)], request: Request) -> Principal:
    """The authenticated caller, for routes that manage their own transactions."""
    with unit_of_work(rt.factory) as session:
        principal = authenticate(session, request.headers)
        request.state.principal = principal  # for the audit recorder
        return principal


Caller = Annotated[Principal, Depends(caller)]
RT = Annotated[Runtime, Depends(runtime)]
