"""Where a change data capture job stands, as runs and jobs show it.

Each task records `{position, lag_seconds, retained_bytes}` for its table; a run (and
so a job's status) shows the least advanced of its tasks: the lowest position, the
largest lag — what an operator needs to know about the whole job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from conveyor.engine.cdc.changelog import position_order

__all__ = ["lag_seconds", "least_advanced"]


def lag_seconds(committed_at: dt.datetime | None, caught_up: bool) -> float:
    """How far behind the source the destination is: 0 when every change read is applied,
    else the age of the last transaction applied."""
    if caught_up or committed_at is None:
        return 0.0
    return max(0.0, (dt.datetime.now(dt.UTC) - committed_at).total_seconds())


def least_advanced(statuses: Iterable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The status of a run from its tasks': the lowest position, the largest lag and
    retained WAL; None when no task has one (not a CDC run)."""
    known = [s for s in statuses if s and s.get("position")]
    if not known:
        return None
    lowest = min(known, key=lambda s: position_order(str(s["position"])))
    return {
        "position": lowest["position"],
        "lag_seconds": max(float(s.get("lag_seconds") or 0) for s in known),
        "retained_bytes": max(int(s.get("retained_bytes") or 0) for s in known),
    }
