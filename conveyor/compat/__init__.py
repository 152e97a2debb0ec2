"""The compatibility facades: each serves one reference system's API over the services.

`install(app)` mounts every one of them on an app; it is the one way `conveyor.api`
reaches this package (`api.app.create_app` calls it once, after the native API and its
error handlers). A facade translates field names, statuses and envelopes and calls the
services, which hold the logic; what a facade needs from `conveyor.api` is its small
stable part — the request dependencies (`api.deps`), the error handler it plugs its
error shape into (`api.problems`), and the download answer (`api.downloads`).
"""

from __future__ import annotations

from fastapi import FastAPI

from conveyor.compat import cdata, elastic, jsonapi, scapi

__all__ = ["SURFACES", "install"]

SURFACES = (cdata, elastic, jsonapi, scapi)
"""Every facade, each with its own `install(app)`."""


def install(app: FastAPI) -> None:
    """Mount every facade on an app (after `problems.install`, `limits.install`)."""
    for surface in SURFACES:
        surface.install(app)
