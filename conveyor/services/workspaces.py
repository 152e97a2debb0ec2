"""Workspaces: namespaces that keep teams' connections, jobs and runs apart."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import exists, select

from conveyor.errors import Conflict, NotFound
from conveyor.schemas.workspaces import WorkspaceCreate, WorkspaceUpdate
from conveyor.services import audit, listing
from conveyor.services.context import DEFAULT_WORKSPACE_ID, Context
from conveyor.store.models import Connection, Job, Workspace

FIELDS = {"id": Workspace.id, "name": Workspace.name, "created_at": Workspace.created_at}


def get(ctx: Context, workspace_id: str) -> Workspace:
    """A visible workspace, or 404."""
    workspace = ctx.session.get(Workspace, workspace_id)
    if workspace is None or not ctx.principal.sees(workspace.id):
        raise NotFound(f"workspace {workspace_id} not found")
    return workspace


def resolve(ctx: Context, workspace_id: str | None) -> str:
    """The workspace a new resource goes to: the given one (if visible) or the default."""
    if workspace_id is None:
        if ctx.principal.workspace_ids and DEFAULT_WORKSPACE_ID not in ctx.principal.workspace_ids:
            return ctx.principal.workspace_ids[0]
        workspace_id = DEFAULT_WORKSPACE_ID
    return get(ctx, workspace_id).id


def list_(ctx: Context, query: Mapping[str, str]) -> listing.Paged[Workspace]:
    """Visible workspaces."""
    params = listing.ListParams.parse(query)
    statement = select(Workspace)
    if ctx.principal.workspace_ids:
        statement = statement.where(Workspace.id.in_(ctx.principal.workspace_ids))
    return listing.page(ctx.session, listing.apply(statement, params, FIELDS, ("name",)), params)


def _unique_name(ctx: Context, name: str, exclude: str | None = None) -> None:
    clash = ctx.session.scalar(select(Workspace.id).where(Workspace.name == name))
    if clash is not None and clash != exclude:
        raise Conflict(f"a workspace named {name!r} already exists")


def create(ctx: Context, data: WorkspaceCreate) -> Workspace:
    """A new workspace (admins and standard users)."""
    ctx.principal.require_write()
    _unique_name(ctx, data.name)
    workspace = Workspace(name=data.name)
    ctx.session.add(workspace)
    ctx.session.flush()
    audit.note(workspace.id, workspace.id)
    return workspace


def update(ctx: Context, workspace_id: str, data: WorkspaceUpdate) -> Workspace:
    """Rename a workspace."""
    ctx.principal.require_write()
    workspace = get(ctx, workspace_id)
    if data.name is not None:
        _unique_name(ctx, data.name, workspace.id)
        workspace.name = data.name
    ctx.session.flush()
    audit.note(workspace.id, workspace.id)
    return workspace


def delete(ctx: Context, workspace_id: str) -> None:
    """Delete an empty workspace; one holding jobs or connections answers 409."""
    ctx.principal.require_write()
    workspace = get(ctx, workspace_id)
    if workspace.id == DEFAULT_WORKSPACE_ID:
        raise Conflict("the default workspace cannot be deleted")
    for model, what in ((Job, "jobs"), (Connection, "connections")):
        if ctx.session.scalar(select(exists().where(model.workspace_id == workspace.id))):
            raise Conflict(f"workspace {workspace.name!r} still has {what}; delete them first")
    audit.note(workspace.id, workspace.id)
    ctx.session.delete(workspace)
