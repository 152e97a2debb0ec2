"""The policy applied to what services store and open: the `Reach` of a connection or a
workspace, computed from the store and handed to whatever connects (see `conveyor.policy`).
"""

from __future__ import annotations

from conveyor.domain import Role
from conveyor.policy import Policy, Reach
from conveyor.services.context import Context
from conveyor.store.models import Connection, Workspace


def policy(ctx: Context) -> Policy:
    """The server's policy."""
    return Policy(ctx.settings)


def _workspace_paths(ctx: Context, workspace_id: str) -> list[str]:
    workspace = ctx.session.get(Workspace, workspace_id)
    return list(workspace.allowed_paths) if workspace is not None else []


def for_connection(ctx: Context, connection: Connection) -> Reach:
    """What a stored connection may reach: an admin's reach if an admin configured it."""
    return policy(ctx).reach(
        connection.workspace_id,
        _workspace_paths(ctx, connection.workspace_id),
        admin=connection.admin_configured,
        external_access=connection.allow_external_access,
    )


def for_caller(ctx: Context, workspace_id: str, *, external_access: bool = False) -> Reach:
    """What the caller may point something at in a workspace (checked when it is stored)."""
    return policy(ctx).reach(
        workspace_id,
        _workspace_paths(ctx, workspace_id),
        admin=ctx.principal.role is Role.admin,
        external_access=external_access,
    )


def for_workspace(ctx: Context, workspace_id: str) -> Reach:
    """What a workspace's events and webhooks may reach: a non-admin's reach, whoever set
    them, so that the check when they are stored and the one when they fire agree."""
    return policy(ctx).reach(workspace_id, _workspace_paths(ctx, workspace_id), admin=False)
