"""Routes of /api/v1/workspaces."""

from __future__ import annotations

from fastapi import APIRouter

from conveyor.api.deps import UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.schemas.workspaces import WorkspaceCreate, WorkspaceOut, WorkspaceUpdate
from conveyor.services import workspaces

router = APIRouter(route_class=UnitRoute, prefix="/workspaces", tags=["workspaces"])
add_routes(
    router, Collection.of("workspace", workspaces, WorkspaceOut, WorkspaceCreate, WorkspaceUpdate)
)
