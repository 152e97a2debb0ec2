"""Elastic's connector and sync job APIs, mounted at `/_connector`.

`install` wires the facade into an app: the sync job routes before the connector routes
(so `_sync_job` is never read as a connector id), Elasticsearch's error envelope for
every failure under the prefix, and the middleware that stamps `X-Elastic-Product` and
the negotiated media type on every answer.
"""

from __future__ import annotations

from fastapi import FastAPI

from conveyor.compat import surface
from conveyor.compat.elastic import connectors, errors, sync_jobs


def install(app: FastAPI) -> None:
    """Mount the Elastic facade on an app."""
    app.include_router(sync_jobs.router)
    app.include_router(connectors.router)
    surface.install(app, errors.PREFIX, errors.render)
    app.add_middleware(errors.ElasticHeaders)
