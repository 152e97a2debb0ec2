"""Limits before work: a request body is bounded and its JSON shallow before anything runs.

`RequestLimits` is a pure ASGI middleware that reads the body itself, before routing and
so before authentication, body parsing or any service:

- a `Content-Length` over `CONVEYOR_MAX_BODY_BYTES` answers 413 at once, without reading
  a byte of the body (and without `100 Continue`);
- a body of unknown length (chunked) is counted as it arrives and cut off at the limit
  with 413; at most the limit is ever held;
- a body that nests arrays and objects deeper than `CONVEYOR_MAX_JSON_DEPTH` answers 400
  (`json_depth` scans the bytes; the parsers, which recurse, never see it). Every body is
  scanned, whatever its `Content-Type` says: the facades read their bodies as JSON
  without looking at it, so a `multipart/…` label is no way around the limit;
- a body within the limits is handed to the app as one message, so the app reads what
  it would have read.

A refusal is rendered by the app's own handler for the error, so each surface answers in
its own shape (problem+json, CData's `{"error"}`, Elastic's envelope, JSON:API's
`errors`). When the body was not read to its end the answer says `Connection: close`
and the server closes the connection after it: the unread rest of the body could not be
told apart from a next request.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.asgi import HttpMiddleware
from conveyor.api.json_depth import nests_deeper
from conveyor.config import Settings
from conveyor.errors import ConveyorError

_SCAN_IN_THREAD = 256 * 1024
"""Bodies larger than this are scanned in a worker thread, not on the event loop."""


class PayloadTooLarge(ConveyorError):
    """The request body is too large."""

    status_code = 413


class NestedTooDeep(ConveyorError):
    """The JSON body nests too deeply."""

    status_code = 400


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared `Content-Length` (None when absent or unreadable) and whether one is expected.

    An HTTP/1 request with neither `Content-Length` nor `Transfer-Encoding` has no body.
    """
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
                chunked = True  # unreadable: count what arrives instead
        elif name == b"transfer-encoding":
            chunked = True
    has_body = chunked or length is not None or not scope.get("http_version", "1.1").startswith("1")
    return length, has_body


class RequestLimits(HttpMiddleware):
    """ASGI middleware: the body limit and the JSON depth limit, before the app runs."""

    def __init__(self, app: ASGIApp, owner: FastAPI, max_body_bytes: int, max_depth: int) -> None:
        self.app = app
        self.owner = owner
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        length, has_body = _framing(scope)
        if not has_body or length == 0:
            await self.app(scope, receive, send)
            return
        if length is not None and length > self.max_body_bytes:
            await self.refuse(scope, receive, send, self._too_large(), close=True)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: there is nobody to answer
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                chunks.clear()
                await self.refuse(scope, receive, send, self._too_large(), close=True)
                return
            if chunk:
                chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        del chunks
        if await self._too_deep(body):
            error = NestedTooDeep(
                f"the JSON body nests arrays and objects deeper than {self.max_depth} levels "
                "(CONVEYOR_MAX_JSON_DEPTH)",
                limit=self.max_depth,
            )
            await self.refuse(scope, receive, send, error, close=False)
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is larger than {self.max_body_bytes} bytes "
            "(CONVEYOR_MAX_BODY_BYTES)",
            limit=self.max_body_bytes,
        )

    async def _too_deep(self, body: bytes) -> bool:
        if not body:
            return False
        if len(body) <= _SCAN_IN_THREAD:
            return nests_deeper(body, self.max_depth)
        return await anyio.to_thread.run_sync(nests_deeper, body, self.max_depth)

    async def refuse(
        self, scope: Scope, receive: Receive, send: Send, error: ConveyorError, *, close: bool
    ) -> None:
        """Answer `error` as the app's handler for it renders it under this request's path."""
        request = Request(scope, receive)
        handler = _handler(self.owner, error)
        if handler is None:
            response: Response = JSONResponse(
                {"title": error.title, "status": error.status_code, "detail": error.message},
                status_code=error.status_code,
            )
        else:
            answer = handler(request, error)
            response = await answer if inspect.isawaitable(answer) else answer
        if close:
            response.headers["connection"] = "close"
        await response(scope, receive, send)


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _handler(app: FastAPI, error: Exception) -> Handler | None:
    """The app's handler for the error's class or its nearest base (as Starlette looks it up)."""
    for kind in type(error).__mro__:
        if kind in app.exception_handlers:
            found: Handler = app.exception_handlers[kind]
            return found
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the body read already, then waits for a disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def install(app: FastAPI, settings: Settings) -> None:
    """Add the limits to an app: after `problems.install`, before the facades' installs.

    Middlewares added later wrap earlier ones. What is added after this — the metrics'
    timing, CData's path normalization (so a refusal under `/API.RSC` is still CData's),
    Elastic's headers, the security headers — runs before it and must not read the body;
    what is added before it runs only for requests within the limits.
    """
    app.add_middleware(
        RequestLimits,
        owner=app,
        max_body_bytes=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
    )
