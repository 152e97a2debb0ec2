"""A job or transformation changes only while none of its runs is active.

A run reads its definition when it starts and its tasks as it goes, so changing or
deleting what it runs underneath it would leave a run that matches neither the old
definition nor the new one. Every service that changes a job, its tasks or a
transformation asks here first, and the answer is the same 409 everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select

from conveyor.domain import ACTIVE_STATUSES
from conveyor.errors import Conflict
from conveyor.services.context import Context
from conveyor.store.models import Job, Run, Transformation

Definition = TypeVar("Definition", Job, Transformation)


def ensure_idle(ctx: Context, target: Job | Transformation, action: str) -> None:
    """409 naming the active run when `target` has one; `action` says what was refused
    (`change`, `delete`, `change the tasks of`)."""
    owner = Run.job_id if isinstance(target, Job) else Run.transformation_id
    active = ctx.session.scalar(
        select(Run.id).where(owner == target.id, Run.status.in_(ACTIVE_STATUSES)).limit(1)
    )
    if active is not None:
        what = "job" if isinstance(target, Job) else "transformation"
        raise Conflict(
            f"cannot {action} {what} {target.name!r} while run {active} is active",
            active_run_id=active,
        )


def for_change(
    ctx: Context, load: Callable[[Context, str], Definition], key: str, action: str
) -> Definition:
    """The job or transformation `key` names (`load` finds it), about to be changed or
    deleted: refused to viewers before it is read (403), then not found (404), then
    while it runs (409)."""
    ctx.principal.require_write()
    target = load(ctx, key)
    ensure_idle(ctx, target, action)
    return target
