"""CData Sync compatibility, wired into an app in one call.

`install(app)` adds the path normalization (CData's paths are case-insensitive), the
OData error rendering for everything under `/api.rsc` (through `surface`, so other
facades' prefixes and `/api/v1` keep their own error shapes), and the two routers: v2
(`cdata_v2`) and v1 OData (`cdata_odata`).
"""

from __future__ import annotations

from fastapi import FastAPI

from conveyor.compat import cdata_odata, cdata_v2, surface
from conveyor.compat.cdata_common import render_error
from conveyor.compat.cdata_paths import PREFIX, CDataPaths


def install(app: FastAPI) -> None:
    """Serve CData Sync's REST APIs v1 and v2 under `/api.rsc` (after `problems.install`)."""
    app.add_middleware(CDataPaths)
    surface.install(app, PREFIX, render_error)
    app.include_router(cdata_v2.router)
    app.include_router(cdata_odata.router)
