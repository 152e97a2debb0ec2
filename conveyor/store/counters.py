"""Totals that only grow, kept in the store: added to as work is done, never recomputed.

The rows and bytes runs write are summed here as workers report them (each report adds
what a task wrote since its last one), in the same transaction as the report, so the
totals survive restarts and the deletion of the runs that made them. `/metrics` exports
them as Prometheus counters.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from conveyor.store.models import Counter

ROWS_WRITTEN = "rows_written"
BYTES_WRITTEN = "bytes_written"
NAMES = (ROWS_WRITTEN, BYTES_WRITTEN)


def add(session: Session, name: str, amount: int) -> None:
    """Add `amount` (ignored unless positive: a counter never goes down) to a counter.

    Flushes first, so that a caller's own row changes take their locks before the
    counter's row does: every writer locks in that order, and none waits on another
    in a cycle.
    """
    if amount <= 0:
        return
    session.flush()
    changed = session.execute(
        update(Counter).where(Counter.name == name).values(value=Counter.value + amount)
    )
    if getattr(changed, "rowcount", 1) == 0:  # a store made without the migration's rows
        session.add(Counter(name=name, value=amount))
        session.flush()


def values(session: Session) -> dict[str, int]:
    """Every counter's value (0 for one never added to)."""
    found = {name: value for name, value in session.execute(select(Counter.name, Counter.value))}
    return {name: int(found.get(name, 0)) for name in NAMES}
