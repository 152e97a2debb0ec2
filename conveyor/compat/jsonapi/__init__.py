"""The sync service's JSON:API facade: `/sync/jobs` (runs) and `/sync/exports` (export runs
and their files), wired into an app in one call.

- `jobs`, `exports`: the routes of each resource;
- `documents`: what both share — query parameters, documents, the error document shape.
"""

from __future__ import annotations

from fastapi import FastAPI

from conveyor.api import problems
from conveyor.compat.jsonapi import documents, exports, jobs

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Mount `/sync/jobs` and `/sync/exports`, with JSON:API error documents under both."""
    for resource in (jobs, exports):
        app.include_router(resource.router)
        problems.add_shape(app, resource.PREFIX, documents.shape, documents.ERROR_DOC)
