"""The totals of runs lists, read from `run_counts` where the filters allow it.

A list answers how many runs its filters match. Counting them read an index entry per
run: 50-75 ms for a million runs, or for the 200,000 in one status. `run_counts` holds
the runs per (workspace, job, status), kept exact by triggers (migration 0013); a list
filtered by nothing but those columns — the unfiltered list, a job's history, a status —
sums the few rows that match instead. Any other filter (a date, a name, a kind) leaves
the count to the database as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

from conveyor.store.models import Run, RunCount

COUNTED: dict[str, InstrumentedAttribute[Any]] = {
    "workspace_id": RunCount.workspace_id,
    "job_id": RunCount.job_id,
    "status": RunCount.status,
}
"""The list filters a count can be read for, by name (the same on every surface)."""
Counter = Callable[[], int]
Condition = tuple[str, list[Any]]
"""A counted column's name and the values it may have."""


def _counter(
    session: Session,
    conditions: Iterable[Condition],
    workspace_ids: Sequence[str] = (),
    job_id: str | None = None,
) -> Counter | None:
    where: list[ColumnElement[bool]] = []
    for name, values in conditions:
        # '' stands for "no job" in the counts, but matches no run's job.
        if not all(isinstance(value, str) and value for value in values):
            return None
        where.append(COUNTED[name].in_(values))
    if workspace_ids:
        where.append(RunCount.workspace_id.in_(workspace_ids))
    if job_id is not None:
        where.append(RunCount.job_id == job_id)
    statement = select(func.coalesce(func.sum(RunCount.runs), 0)).where(*where)
    return lambda: int(session.scalar(statement) or 0)


def counter(
    session: Session,
    filters: Sequence[tuple[str, str, str]],
    workspace_ids: Sequence[str] = (),
    job_id: str | None = None,
) -> Counter | None:
    """How to read the number of runs that `filters` (as `listing.ListParams` holds them, already
    checked by `listing.apply`) match among the runs of `workspace_ids` (all when empty)
    and of `job_id` (when given) — or None when a filter is not on the counts."""
    conditions: list[Condition] = []
    for name, op, raw in filters:
        if name not in COUNTED or op not in ("eq", "in"):
            return None
        values = [raw] if op == "eq" else [part.strip() for part in raw.split(",")]
        conditions.append((name, [v for v in values if v] if op == "in" else values))
    return _counter(session, conditions, workspace_ids, job_id)


def by_status(
    session: Session, statuses: Iterable[str], workspace_ids: Sequence[str] = ()
) -> dict[str, int]:
    """How many runs there are in each of `statuses` (those with none left out), among the
    runs of `workspace_ids` (all when empty): one statement over the counts, so a page
    asks for the runs of a status only when there are some."""
    statement = (
        select(RunCount.status, func.sum(RunCount.runs))
        .where(RunCount.status.in_(list(statuses)))
        .group_by(RunCount.status)
    )
    if workspace_ids:
        statement = statement.where(RunCount.workspace_id.in_(workspace_ids))
    return {status: int(total) for status, total in session.execute(statement) if total}


def _condition(element: ColumnElement[Any]) -> Condition | None:
    """`column = value` or `column IN (values)` on a counted column of the runs, read."""
    if not isinstance(element, BinaryExpression):
        return None
    column, right = element.left, element.right
    if getattr(column, "table", None) is not Run.__table__ or column.key not in COUNTED:
        return None
    if not isinstance(right, BindParameter):
        return None
    if element.operator is operators.eq and not right.expanding:
        return str(column.key), [right.value]
    if element.operator is operators.in_op and right.expanding:
        return str(column.key), list(right.value or ())
    return None


def counter_of(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    workspace_ids: Sequence[str] = (),
) -> Counter | None:
    """How to read the number of runs that SQL conditions match (a facade's compiled
    query, such as CData's `$filter`), when they are all counted columns compared to
    values (`=`, `IN`, joined by AND); else None."""
    pending = list(where)
    conditions: list[Condition] = []
    while pending:
        element = pending.pop()
        if isinstance(element, BooleanClauseList) and element.operator is operators.and_:
            pending.extend(element.clauses)
            continue
        found = _condition(element)
        if found is None:
            return None
        conditions.append(found)
    return _counter(session, conditions, workspace_ids)
