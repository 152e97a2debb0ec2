"""Workspaces: the groups connections, jobs and runs belong to.

ws = client.workspaces.create(name="analytics")
client.connections.create(name="src", url="sqlite:///x.db", workspace_id=ws.id)
"""

from __future__ import annotations

from conveyor.client.collection import AsyncCollection, Calls, Collection
from conveyor.schemas.workspaces import WorkspaceOut


class WorkspaceCalls(Calls[WorkspaceOut]):
    """The requests of `/api/v1/workspaces`."""

    path = "/api/v1/workspaces"
    out = WorkspaceOut


class Workspaces(WorkspaceCalls, Collection[WorkspaceOut]):
    """`client.workspaces`: list, get, create, update and delete."""


class AsyncWorkspaces(WorkspaceCalls, AsyncCollection[WorkspaceOut]):
    """`AsyncClient.workspaces`: `Workspaces`' methods, awaited."""
