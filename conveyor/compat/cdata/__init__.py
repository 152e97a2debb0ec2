"""CData Sync compatibility, wired into an app in one call.

`install(app)` adds the path normalization (CData's paths are case-insensitive), the
OData error shape for every failure under `/api.rsc` (`responses.shape`, plugged
into the app's one error handler, so other facades' prefixes and `/api/v1` keep their
own shapes), and the routers: v2 (`v2`, `v2_tasks`) and v1 OData (`odata`, its entity
sets and actions).
"""

from __future__ import annotations

from fastapi import FastAPI

from conveyor.api import problems
from conveyor.compat.cdata import responses, v2, v2_tasks
from conveyor.compat.cdata.odata import routes as odata
from conveyor.compat.cdata.paths import PREFIX, CDataPaths


def install(app: FastAPI) -> None:
    """Serve CData Sync's REST APIs v1 and v2 under `/api.rsc` (after `problems.install`)."""
    app.add_middleware(CDataPaths)
    problems.add_shape(app, PREFIX, responses.shape, responses.ERROR_DOC)
    app.include_router(v2.router)
    app.include_router(v2_tasks.router)
    app.include_router(odata.router)
