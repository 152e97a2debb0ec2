"""How long an answer stays true when the store does not change: its clock-bound parts.

An answer read from the store stays true until someone commits a change — that is what
the API's read cache checks (`conveyor.store.data_version`). A few answers also depend on
the clock: a job shows when its schedule fires next, which moves on when that moment
passes whether or not anything is committed. A service computing such a part says until
when it holds (`holds_until`); whoever is keeping the answer (`observing`) learns the
earliest such moment and stops serving the answer then. Outside `observing` a call is
a no-op, so services call it unconditionally.

The observation is a contextvar holding a mutable object: a request's route runs in a
worker thread on a copy of the request's context, and still writes to the same object.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Freshness:
    """The earliest moment an answer being computed stops being true (None: never, by the clock)."""

    until: dt.datetime | None = None


_current: contextvars.ContextVar[Freshness | None] = contextvars.ContextVar(
    "conveyor_freshness", default=None
)


@contextlib.contextmanager
def observing() -> Iterator[Freshness]:
    """Learn, while the block runs, until when the answer it computes holds."""
    freshness = Freshness()
    token = _current.set(freshness)
    try:
        yield freshness
    finally:
        _current.reset(token)


def holds_until(moment: dt.datetime) -> None:
    """The answer being computed is true only until `moment` (by the clock)."""
    freshness = _current.get()
    if freshness is not None and (freshness.until is None or moment < freshness.until):
        freshness.until = moment
