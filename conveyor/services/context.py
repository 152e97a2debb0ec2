"""What every service call receives: the request's session, who is calling, and tools.

Services never commit; whoever built the context (a request, a worker step, the CLI)
owns the transaction.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from conveyor.config import Settings
from conveyor.crypto import SecretBox
from conveyor.domain import Role
from conveyor.errors import NotFound, PermissionDenied
from conveyor.queue.manager import QueueManager

DEFAULT_WORKSPACE_ID = "default"


@dataclass(frozen=True)
class Principal:
    """The caller: a user with a role and the workspaces they may see (empty: all)."""

    user_id: str
    name: str
    role: Role
    workspace_ids: tuple[str, ...] = ()

    def sees(self, workspace_id: str) -> bool:
        """Whether the caller may see the workspace."""
        return not self.workspace_ids or workspace_id in self.workspace_ids

    def check_visible(self, workspace_id: str, what: str, ident: str) -> None:
        """404 — never 403 — for a resource of a workspace the caller cannot see."""
        if not self.sees(workspace_id):
            raise NotFound(f"{what} {ident} not found")

    def require_write(self) -> None:
        """Viewers only read."""
        if self.role is Role.viewer:
            raise PermissionDenied("viewers can only read")

    def require_admin(self) -> None:
        """Only admins manage users."""
        if self.role is not Role.admin:
            raise PermissionDenied("only admins manage users")


SYSTEM = Principal(user_id="system", name="system", role=Role.admin)
"""The principal of work nobody asked for directly (the scheduler, the demo, the CLI)."""


@dataclass
class Context:
    """A service call's session, caller and collaborators."""

    session: Session
    principal: Principal
    settings: Settings
    box: SecretBox
    queue: QueueManager
    extra: dict[str, object] = field(default_factory=dict)


class Units(Protocol):
    """What opens service contexts in transactions of their own (the `Runtime`).

    A service that talks to the outside world — a connection's database, a webhook — takes
    this instead of one context, so that it can read what it needs in a short unit, do its
    I/O with no transaction open, and record the outcome in another short unit.
    """

    def unit(
        self, principal: Principal = ..., *, read_only: bool = False
    ) -> AbstractContextManager[Context]:
        """A service context in its own transaction (a read transaction with `read_only`)."""
        ...
