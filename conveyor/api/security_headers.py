"""Protective headers on every answer: no sniffing, no framing, no referrer, no caching.

An API answer is data, never a page: browsers must not guess another media type from
it (`nosniff`), not show it in a frame (`X-Frame-Options`, CSP `frame-ancestors`), not run
anything it might contain (CSP `default-src 'none'`), not leak our URLs — which may
carry ids — to other sites (`Referrer-Policy`), and no cache should keep a copy of a
connection, a token or a run's result (`Cache-Control: no-store`). HTML answers (the
interactive docs under `/docs` and `/redoc`) only get `frame-ancestors 'none'` in their
policy, since they load their scripts and styles as they do.

Headers a route set itself are kept. The middleware covers everything the app answers
through its middleware stack; `install` also wraps the app's last-resort handler, whose
500 is sent from outside that stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.asgi import HttpMiddleware

RawHeaders = list[tuple[bytes, bytes]]
ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)
CSP = b"content-security-policy"
CSP_DATA = b"default-src 'none'; frame-ancestors 'none'"
CSP_PAGE = b"frame-ancestors 'none'"


def secure(headers: Sequence[tuple[bytes, bytes]]) -> RawHeaders:
    """The headers with every protective header the answer does not set itself."""
    present = set()
    html = False
    for name, value in headers:
        lowered = name.lower()
        present.add(lowered)
        if lowered == b"content-type":
            html = value[:9].lower() == b"text/html"
    added = [(name, value) for name, value in ALWAYS if name not in present]
    if CSP not in present:
        added.append((CSP, CSP_PAGE if html else CSP_DATA))
    return [*headers, *added]


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware: `secure` on the start of every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": secure(message.get("headers", ()))}
            await send(message)

        await self.app(scope, receive, send_secured)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _secured_handler(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        response.raw_headers[:] = secure(response.raw_headers)
        return response

    return handle


def install(app: FastAPI) -> None:
    """Add the headers to every answer; call it last, after every facade's `install`.

    Last, so that the middleware wraps all others (their answers get the headers too)
    and the wrapped last-resort handler is the one the facades composed.
    """
    app.add_middleware(SecurityHeaders)
    fallback = cast(Handler | None, app.exception_handlers.get(Exception))
    if fallback is not None:
        app.exception_handlers[Exception] = cast(Any, _secured_handler(fallback))
