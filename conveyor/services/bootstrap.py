"""First start: the default workspace and the first admin, whose token is shown once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from conveyor.domain import Role
from conveyor.schemas.users import TokenCreate
from conveyor.services.context import DEFAULT_WORKSPACE_ID, Context
from conveyor.services.users import hash_token, issue_token
from conveyor.store.models import Token, User, Workspace

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
        return None if ctx.settings.admin_token else created.token
    if ctx.settings.admin_token:
        _register_configured_token(session, ctx)
    return None


def _register_configured_token(session: Session, ctx: Context) -> None:
    assert ctx.settings.admin_token is not None
    if session.scalar(
        select(Token.id).where(Token.token_hash == hash_token(ctx.settings.admin_token))
    ):
        return
    admin = session.scalar(
        select(User).where(User.role == Role.admin.value).order_by(User.created_at).limit(1)
    )
    if admin is not None:
        issue_token(ctx, admin, TokenCreate(name="CONVEYOR_ADMIN_TOKEN"), ctx.settings.admin_token)
