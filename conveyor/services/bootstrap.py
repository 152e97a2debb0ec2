"""First start: the default workspace and the first admin, whose token is shown once.

`CONVEYOR_ADMIN_TOKEN` only seeds an empty store. Once there are users the store is the
authority on tokens: re-registering the variable's value on every start would bring a
revoked token back to life with the next restart, so it is ignored (with a warning).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from conveyor.domain import Role
from conveyor.schemas.users import TokenCreate
from conveyor.services.context import DEFAULT_WORKSPACE_ID, Context
from conveyor.services.users import issue_token
from conveyor.store.models import User, Workspace

log = logging.getLogger(__name__)
ADMIN_NAME = "admin"


def ensure_defaults(ctx: Context) -> str | None:
    """Create what a fresh store needs; return a newly generated admin token, else None."""
    session = ctx.session
    if session.get(Workspace, DEFAULT_WORKSPACE_ID) is None:
        session.add(Workspace(id=DEFAULT_WORKSPACE_ID, name="Default"))
    if session.scalar(select(User.id).limit(1)) is None:
        admin = User(name=ADMIN_NAME, role=Role.admin.value, workspace_ids=[])
        session.add(admin)
        session.flush()
        created = issue_token(
            ctx, admin, TokenCreate(name="initial admin token"), ctx.settings.admin_token
        )
        if created.expires_at is not None:
            log.warning(
                "the first admin's token expires at %s (CONVEYOR_TOKEN_DEFAULT_DAYS or "
                "CONVEYOR_TOKEN_MAX_DAYS): create another token or a password before then",
                created.expires_at.isoformat(timespec="seconds"),
            )
        return None if ctx.settings.admin_token else created.token
    if ctx.settings.admin_token:
        log.warning(
            "CONVEYOR_ADMIN_TOKEN is ignored: the store already has users, and the variable "
            "only creates the first admin of an empty store (a revoked token stays revoked); "
            "unset it"
        )
    return None
