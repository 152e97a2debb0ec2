"""The one shape of Conveyor's middlewares: pure ASGI, acting on HTTP requests only.

Every layer of the stack (limits, audit, metrics, security headers) is a plain ASGI
callable rather than Starlette's `BaseHTTPMiddleware`, which costs a task and a copy of
the body per request. Lifespan and websocket events pass straight through, so each
layer says only what it does to a request.
"""

from __future__ import annotations

import abc

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware(abc.ABC):
    """An ASGI middleware around `app` whose `http` sees every HTTP request."""

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    @abc.abstractmethod
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request, calling `self.app` to pass it on."""
