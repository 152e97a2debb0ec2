"""The web console at /ui/: server-rendered pages over the same services as the API.

Jinja2 templates and htmx (vendored in `static/`, version in `static/VERSION`) render
and refresh pages; nothing is built, nothing is fetched from elsewhere. Each page group
is a module of thin routes (`dashboard`, `connections`, `jobs`, `runs`, `transformations`,
`pipelines`, `users`, `signin`); what they share — the session, CSRF, rendering — is `web`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from conveyor.console import (
    connections,
    dashboard,
    jobs,
    pipelines,
    runs,
    signin,
    transformations,
    users,
)
from conveyor.console.sessions import Sessions, derive_key
from conveyor.console.web import install_handlers
from conveyor.crypto import load_or_create_key
from conveyor.runtime import Runtime

__all__ = ["install"]

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, runtime: Runtime) -> None:
    """Mount the console on the app, and send a browser asking for / to it."""
    settings = runtime.settings
    secret = load_or_create_key(settings.data_dir, settings.secret_key)
    app.state.console_sessions = Sessions(
        derive_key(secret), lifetime=settings.console_session_seconds
    )
    install_handlers(app)
    for module in (
        signin,
        dashboard,
        connections,
        jobs,
        runs,
        transformations,
        pipelines,
        users,
    ):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="console-static")

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> Response:
        """A browser asking for the server's root gets the console."""
        return RedirectResponse("/ui/", status_code=307)
