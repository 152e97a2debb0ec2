"""The policy applied to what services store and open: the `Reach` of a connection or a
workspace, computed from the store and handed to whatever connects (see `conveyor.policy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor import webhooks
from conveyor.connectors.base import Locatable
from conveyor.connectors.registry import open_connector, resolve
from conveyor.domain import Role
from conveyor.errors import InvalidInput, PermissionDenied
from conveyor.policy import HostRefused, Policy, Reach
from conveyor.services.context import Context
from conveyor.store.models import Connection, Job, Workspace


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


def for_job_events(ctx: Context, job: Job) -> Reach:
    """What a job's pre/post-job events may reach: an admin's reach if an admin set them,
    so the check when they are stored and the one when they fire agree."""
    return policy(ctx).reach(
        job.workspace_id,
        _workspace_paths(ctx, job.workspace_id),
        admin=job.events_admin_configured,
    )


def check_target(ctx: Context, url: str, options: Mapping[str, Any], reach: Reach) -> None:
    """Refuse (403) a connection URL whose paths or hosts `reach` may not use.

    The connector is only constructed, not connected: its URL is parsed the way it will
    be opened, so what is checked here is what it would reach. A connector that keeps no
    data per workspace (`admin_only`) is for admins alone.
    """
    spec = resolve(url)
    if spec.admin_only and ctx.principal.role is not Role.admin:
        raise PermissionDenied(
            f"only admins may create {spec.name} connections: {spec.description}", field="url"
        )
    connector = open_connector(url, dict(options), reach)
    try:
        if isinstance(connector, Locatable):
            found = connector.targets()
            for path in found.paths:
                reach.check_path(path)
            for host in found.hosts:
                reach.check_host(host)
    finally:
        connector.close()


def check_events(ctx: Context, workspace_id: str, events: Mapping[str, Any]) -> None:
    """Refuse (403, naming the field) pre/post-job event URLs the caller may not point at;
    they are checked again, on the resolved address, when they fire."""
    reach = for_caller(ctx, workspace_id)
    for name in ("pre_job_event", "post_job_event"):
        event = events.get(name)
        if event is None:
            continue
        url = event["url"] if isinstance(event, Mapping) else event.url
        try:
            webhooks.check_url(url, reach)  # read by the parser delivery uses
        except (HostRefused, InvalidInput) as exc:
            raise type(exc)(exc.message, field=f"{name}.url") from None
