"""Request dependencies: the runtime, one transaction per request, and the caller.

They are the only ones: every surface — native, CData, SCAPI, Elastic, JSON:API,
/metrics — declares its routes' parameters with these (`Ctx`, `Caller`, `RT`, and
`AnyBasicUserCtx` for CData v2's Basic rule), so `authenticated` is the one door every
request goes through. It leaves what it learnt on `request.state` for the middlewares
that answer after the route (the audit log):

- `request.state.principal`: the `Principal` of a request that signed in;
- `request.state.sign_in_failure`: a `SignInFailure` (attempted user name, client
  address, whether it was refused by the limits) of one whose credentials answered 401
  or 429. A request without any credentials gets neither: it is anonymous, not a
  failed sign-in (it answers 401 all the same).

A request's transaction is a read transaction when its method only reads (GET, HEAD,
OPTIONS): it then never waits for, nor holds up, the store's writers, and a write inside it
fails. The few GETs that change state (SCAPI's datafeed starts a run) authenticate with
`Caller` and open their own write unit. Before its transaction opens, a request waits in
line for the store (`admitted`, see `conveyor.capacity`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from conveyor.capacity import Admission
from conveyor.errors import AuthenticationFailed, TooManySignIns
from conveyor.runtime import Runtime
from conveyor.services.auth import attempted, authenticate, touch_token
from conveyor.services.context import Context, Principal
from conveyor.store.session import operation, unit_of_work

UNKNOWN_CLIENT = "unknown"
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def reads_only(request: Request) -> bool:
    """Whether the request only reads, by its method."""
    return request.method in READS


@dataclass(frozen=True)
class SignInFailure:
    """A request whose credentials were refused: for the audit log, never the secret."""

    user_name: str | None
    client: str
    limited: bool


async def runtime(request: Request) -> Runtime:
    """The app's runtime; the request's units of work are named after it in the log."""
    operation.set(f"{request.method} {request.scope['path']}")
    value: Runtime = request.app.state.runtime
    return value


def client_address(request: Request) -> str:
    """The client's address as the server sees it (the proxy's, unless it is trusted)."""
    return request.client.host if request.client is not None else UNKNOWN_CLIENT


def authenticated(
    request: Request, session: Session, *, any_basic_user: bool = False, read_only: bool = False
) -> Principal:
    """The request's caller (401 or 429 otherwise), noted on `request.state`.

    In a read transaction, a token's last use is noted in a transaction of its own.
    """
    client = client_address(request)
    rt: Runtime = request.app.state.runtime
    try:
        principal = authenticate(
            session,
            request.headers,
            client=client,
            limiter=rt.sign_ins,
            any_basic_user=any_basic_user,
            touch=(lambda token_id: touch_token(rt.factory, token_id)) if read_only else None,
        )
    except (AuthenticationFailed, TooManySignIns) as exc:
        tried, user_name = attempted(request.headers)
        if tried:  # no credentials at all is an anonymous request, not a failed sign-in
            limited = isinstance(exc, TooManySignIns)
            request.state.sign_in_failure = SignInFailure(user_name, client, limited)
        raise
    request.state.principal = principal
    return principal


async def admitted(request: Request) -> AsyncIterator[None]:
    """Wait in line for the store (see `conveyor.capacity`); the slot is held until the route returns."""
    admission: Admission = request.app.state.admission
    async with admission.admitted():
        yield


Admitted = Depends(admitted, scope="function")


def _unit(request: Request, rt: Runtime, any_basic_user: bool) -> Iterator[Context]:
    read_only = reads_only(request)
    with unit_of_work(rt.factory, read_only=read_only) as session:
        principal = authenticated(
            request, session, any_basic_user=any_basic_user, read_only=read_only
        )
        yield rt.context(session, principal)


def context(
    request: Request, rt: Annotated[Runtime, Depends(runtime)], _: Annotated[None, Admitted]
) -> Iterator[Context]:
    """The request's unit of work, as the authenticated caller; committed when the route returns."""
    yield from _unit(request, rt, any_basic_user=False)


def any_basic_user_context(
    request: Request, rt: Annotated[Runtime, Depends(runtime)], _: Annotated[None, Admitted]
) -> Iterator[Context]:
    """As `context`, but Basic may carry any user name with a token (CData v2's rule)."""
    yield from _unit(request, rt, any_basic_user=True)


# scope="function": the transaction commits before the response is sent. FastAPI's default
# ("request") ends a yield dependency after sending, so a client could hear 201 before
# the commit (a second request then found nothing) or never hear that the commit failed.
Ctx = Annotated[Context, Depends(context, scope="function")]
"""A route parameter: the service context of the request."""
AnyBasicUserCtx = Annotated[Context, Depends(any_basic_user_context, scope="function")]
"""`Ctx` where Basic authentication is `<any user>:<token>`."""


def caller(rt: Annotated[Runtime, Depends(runtime)], request: Request) -> Principal:
    """The authenticated caller, for routes that manage their own transactions."""
    with unit_of_work(rt.factory, read_only=True) as session:
        return authenticated(request, session, read_only=True)


Caller = Annotated[Principal, Depends(caller)]
RT = Annotated[Runtime, Depends(runtime)]
