"""Workspaces: namespaces that keep teams' connections, jobs and runs apart."""

from __future__ import annotations

from sqlalchemy import exists, select

from conveyor.domain import Role
from conveyor.errors import Conflict, PermissionDenied
from conveyor.policy import Policy
from conveyor.schemas.workspaces import WorkspaceCreate, WorkspaceOut, WorkspaceUpdate
from conveyor.services import audit, lookup
from conveyor.services.context import DEFAULT_WORKSPACE_ID, Context
from conveyor.store.models import Connection, Job, Workspace

FIELDS = {"id": Workspace.id, "name": Workspace.name, "created_at": Workspace.created_at}


WORKSPACES = lookup.Resource(Workspace, "workspace", FIELDS)
get, list_ = WORKSPACES.get, WORKSPACES.list_


def find_id(ctx: Context, key: str) -> str:
    """A visible workspace's id, by id or, failing that, by name (unique), or 404."""
    return WORKSPACES.find(ctx, key).id


def resolve(ctx: Context, workspace_id: str | None) -> str:
    """The workspace a new resource goes to: the given one (if visible) or the default."""
    if workspace_id is None:
        if ctx.principal.workspace_ids and DEFAULT_WORKSPACE_ID not in ctx.principal.workspace_ids:
            return ctx.principal.workspace_ids[0]
        workspace_id = DEFAULT_WORKSPACE_ID
    return get(ctx, workspace_id).id


def _unique_name(ctx: Context, name: str, exclude: str | None = None) -> None:
    clash = ctx.session.scalar(select(Workspace.id).where(Workspace.name == name))
    if clash is not None and clash != exclude:
        raise Conflict(f"a workspace named {name!r} already exists")


def _allowed_paths(ctx: Context, paths: list[str]) -> list[str]:
    """Folders an admin opens to a workspace, checked (absolute, outside the data dir)."""
    if ctx.principal.role is not Role.admin:
        raise PermissionDenied("only admins set a workspace's allowed_paths", field="allowed_paths")
    policy = Policy(ctx.settings)
    return list(
        dict.fromkeys(
            policy.check_root(path, f"allowed_paths[{i}]") for i, path in enumerate(paths)
        )
    )


def create(ctx: Context, data: WorkspaceCreate) -> Workspace:
    """A new workspace (admins and standard users; allowed_paths: admins)."""
    ctx.principal.require_write()
    _unique_name(ctx, data.name)
    paths = _allowed_paths(ctx, data.allowed_paths) if data.allowed_paths else []
    workspace = Workspace(name=data.name, allowed_paths=paths)
    ctx.session.add(workspace)
    ctx.session.flush()
    audit.note(workspace.id, workspace.id)
    return workspace


def update(ctx: Context, workspace_id: str, data: WorkspaceUpdate) -> Workspace:
    """Rename a workspace, or (admins) change the folders it may use."""
    ctx.principal.require_write()
    workspace = get(ctx, workspace_id)
    if data.allowed_paths is not None:
        workspace.allowed_paths = _allowed_paths(ctx, data.allowed_paths)
    if data.name is not None:
        _unique_name(ctx, data.name, workspace.id)
        workspace.name = data.name
    ctx.session.flush()
    audit.note(workspace.id, workspace.id)
    return workspace


def to_out(ctx: Context, workspace: Workspace) -> WorkspaceOut:
    """The workspace as shown, with its own folder."""
    return WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        folder=str(Policy(ctx.settings).workspace_folder(workspace.id)),
        allowed_paths=list(workspace.allowed_paths),
        created_at=workspace.created_at,
        updated_at=workspace.updated_at,
    )


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
