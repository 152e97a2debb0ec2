"""The run state machine applied to a stored run: legal moves only, with their timestamps."""

from __future__ import annotations

from conveyor.domain import RunStatus, can_transition, utcnow
from conveyor.errors import IllegalTransition
from conveyor.store.models import Run


def transition(run: Run, target: RunStatus) -> None:
    """Move a run to `target`, or raise `IllegalTransition` (HTTP 409)."""
    current = RunStatus(run.status)
    if not can_transition(current, target):
        raise IllegalTransition(
            f"run {run.id} is {current.value}; it cannot become {target.value}",
            current=current.value,
            target=target.value,
        )
    run.status = target.value
    now = utcnow()
    if target is RunStatus.canceled:
        run.canceled_at = now
    if target.is_final:
        run.completed_at = now
