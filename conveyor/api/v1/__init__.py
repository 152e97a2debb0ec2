"""The native API, `/api/v1`: one thin route module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from conveyor.api.v1 import (
    audit,
    certificates,
    connections,
    files,
    jobs,
    pipelines,
    runs,
    tasks,
    transformations,
    users,
    workspaces,
)

router = APIRouter(prefix="/api/v1")
# The router tries routes in order, each at a cost (FastAPI does not skip an included
# router whose prefix cannot match): the most requested collections, jobs and runs, come
# first. Their prefixes are distinct, so the order changes no answer, only the order of
# `/openapi.json`'s paths.
for module in (
    *(jobs, runs, workspaces, connections, tasks, files, transformations, users, audit),
    certificates,
):
    router.include_router(module.router)
router.include_router(pipelines.router)
router.include_router(pipelines.runs_router)
