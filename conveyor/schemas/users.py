"""Request and response bodies of users and tokens."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from conveyor.domain import Role
from conveyor.schemas.common import OutModel, StrictModel


class UserCreate(StrictModel):
    """A new user."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f:]+$")
    role: Role = Role.standard
    workspace_ids: list[str] = Field(default_factory=list, description="Empty: all workspaces.")
    active: bool = True
    password: str | None = Field(
        default=None, description="For Basic user:password (write-only, stored as a scrypt hash)."
    )
    expires_at: dt.datetime | None = Field(
        default=None, description="When the user and their tokens stop working (unset: never)."
    )


class UserUpdate(StrictModel):
    """Changes to a user."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    workspace_ids: list[str] | None = None
    active: bool | None = None
    password: str | None = Field(default=None, description="A new password (write-only).")
    expires_at: dt.datetime | None = Field(
        default=None,
        description="When the user and their tokens stop working; null: never. Tokens that "
        "would outlive it are cut to it.",
    )


class UserOut(OutModel):
    """A user."""

    id: str
    name: str
    role: Role
    workspace_ids: list[str]
    active: bool
    expires_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class TokenCreate(StrictModel):
    """A new API token."""

    name: str = Field(default="", max_length=200)
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Lifetime in days. Unset: CONVEYOR_TOKEN_DEFAULT_DAYS (or never, when no "
        "default or maximum is set); more than CONVEYOR_TOKEN_MAX_DAYS is refused. A viewer's "
        "token always expires (30 days by default and at most, unless those settings say "
        "otherwise).",
    )


class TokenCreated(OutModel):
    """A token as created: the only time its value is shown."""

    id: str
    token: str
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None


class TokenOut(OutModel):
    """A token as listed: never its value."""

    id: str
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
