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

One worker thread per request. The caller is known on the event loop when their token was
verified lately (`services.auth.cached_principal`); only otherwise does signing in take a
worker thread (and a read transaction) of its own. The request's unit of work and its
route then run together in one worker thread: `Ctx` resolves to a `Deferred` context, and
`UnitRoute` — the route class of every router whose routes take `Ctx` — turns each such
sync route into an async one that opens the unit, runs the route in it and commits, in
one `run_in_threadpool` call. `check_routes` refuses, at start-up, a route taking `Ctx`
that some router declared without it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.utils import get_typed_signature
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from conveyor.capacity import Admission
from conveyor.errors import AuthenticationFailed, TooManySignIns
from conveyor.runtime import Runtime
from conveyor.services import outside
from conveyor.services.auth import (
    attempted,
    authenticate,
    cached_principal,
    store_key,
    touch_token,
)
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
    _name_units(request)
    value: Runtime = request.app.state.runtime
    return value


def _name_units(request: Request) -> None:
    """Name the units of work this request opens after it, for the write-budget warning."""
    operation.set(f"{request.method} {request.scope['path']}")


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
            remember=rt.settings.auth_cache_seconds,
        )
    except (AuthenticationFailed, TooManySignIns) as exc:
        tried, user_name = attempted(request.headers)
        if tried:  # no credentials at all is an anonymous request, not a failed sign-in
            limited = isinstance(exc, TooManySignIns)
            request.state.sign_in_failure = SignInFailure(user_name, client, limited)
        raise
    request.state.principal = principal
    return principal


async def signed_in(request: Request, *, any_basic_user: bool = False) -> Principal:
    """The request's caller: from the verified tokens on the event loop, else checked
    with the store in a read transaction on a worker thread (`authenticated`)."""
    store = store_key(request.app.state.runtime.engine)
    cached = cached_principal(request.headers, store, any_basic_user=any_basic_user)
    if cached is not None:
        principal = cached[0]
        request.state.principal = principal
        return principal
    rt: Runtime = request.app.state.runtime

    def check() -> Principal:
        with unit_of_work(rt.factory, read_only=True) as session:
            return authenticated(request, session, any_basic_user=any_basic_user, read_only=True)

    return await run_in_threadpool(check)


async def admitted(request: Request) -> AsyncIterator[None]:
    """Wait in line for the store (see `conveyor.capacity`); the slot is held until the route returns."""
    admission: Admission = request.app.state.admission
    async with admission.admitted():
        yield


Admitted = Depends(admitted, scope="function")


@dataclass(frozen=True)
class Deferred:
    """The request's context before its unit of work opens: who calls, whether it only
    reads. `UnitRoute` opens the unit in the route's worker thread and passes the
    `Context` in its place."""

    runtime: Runtime
    principal: Principal
    read_only: bool

    def open(self, endpoint: Callable[..., Any], values: dict[str, Any]) -> Any:
        """Call the endpoint in the request's unit of work (on a worker thread); a service
        that must reach the outside world first (`services.outside`) has it done with no
        transaction open, and the endpoint called again in a new unit."""
        return outside.run(
            lambda: self.runtime.unit(self.principal, read_only=self.read_only),
            lambda ctx: endpoint(
                **{name: ctx if isinstance(v, Deferred) else v for name, v in values.items()}
            ),
        )


async def context(_: Annotated[None, Admitted], request: Request) -> Deferred:
    """The request's unit of work, as the authenticated caller; committed when the route returns."""
    _name_units(request)
    principal = await signed_in(request)
    return Deferred(request.app.state.runtime, principal, reads_only(request))


async def any_basic_user_context(_: Annotated[None, Admitted], request: Request) -> Deferred:
    """As `context`, but Basic may carry any user name with a token (CData v2's rule)."""
    _name_units(request)
    principal = await signed_in(request, any_basic_user=True)
    return Deferred(request.app.state.runtime, principal, reads_only(request))


# scope="function": the admission slot is held until the route returns, and the route (with
# its unit of work, see `UnitRoute`) commits before the response is sent.
Ctx = Annotated[Context, Depends(context, scope="function")]
"""A route parameter: the service context of the request."""
AnyBasicUserCtx = Annotated[Context, Depends(any_basic_user_context, scope="function")]
"""`Ctx` where Basic authentication is `<any user>:<token>`."""
DEFERRED = frozenset({context, any_basic_user_context})


def takes_context(endpoint: Callable[..., Any]) -> bool:
    """Whether one of the endpoint's parameters is `Ctx` or `AnyBasicUserCtx`."""
    for parameter in get_typed_signature(endpoint).parameters.values():
        annotation = parameter.annotation
        if get_origin(annotation) is Annotated and any(
            getattr(meta, "dependency", None) in DEFERRED for meta in get_args(annotation)[1:]
        ):
            return True
    return False


def in_one_thread(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A sync endpoint taking `Ctx` as an async one running it, in its unit of work, on
    one worker thread; any other endpoint as it is."""
    if not takes_context(endpoint):
        return endpoint
    if inspect.iscoroutinefunction(endpoint) or inspect.isgeneratorfunction(endpoint):
        raise TypeError(f"{endpoint.__qualname__}: a route taking Ctx must be a plain def")

    @functools.wraps(endpoint)  # FastAPI reads the parameters through `__wrapped__`
    async def endpoint_in_unit(**values: Any) -> Any:
        deferred = next(v for v in values.values() if isinstance(v, Deferred))
        return await run_in_threadpool(deferred.open, endpoint, values)

    return endpoint_in_unit


class UnitRoute(APIRoute):
    """A route whose `Ctx` unit of work and body run in one worker thread (`in_one_thread`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, in_one_thread(endpoint), **kwargs)


def check_routes(app: FastAPI) -> None:
    """Refuse (at start-up) a route taking `Ctx` that is not a `UnitRoute`: it would get
    the `Deferred` context instead of the unit of work."""
    for route_context in iter_route_contexts(app.routes):
        route = route_context.original_route
        if (
            isinstance(route, APIRoute)
            and not isinstance(route, UnitRoute)
            and takes_context(route.endpoint)
        ):
            raise TypeError(
                f"route {route.path} takes Ctx: declare its router with route_class=UnitRoute"
            )


async def caller(request: Request) -> Principal:
    """The authenticated caller, for routes that manage their own transactions."""
    return await signed_in(request)


Caller = Annotated[Principal, Depends(caller)]
RT = Annotated[Runtime, Depends(runtime)]
