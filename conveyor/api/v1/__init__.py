"""The native API, `/api/v1`: one thin route module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from conveyor.api.v1 import (
    audit,
    connections,
    files,
    jobs,
    runs,
    tasks,
    transformations,
    users,
    workspaces,
)

router = APIRouter(prefix="/api/v1")
for module in (workspaces, connections, jobs, tasks, runs, files, transformations, users, audit):
    router.include_router(module.router)
