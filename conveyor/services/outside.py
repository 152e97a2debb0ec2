"""I/O a write needs done first, with no store transaction open.

Some writes must first reach the outside world and may not go on when it fails:
deleting a change data capture job drops its replication slot on the source, and the
deletion is refused (naming the slot) while the source cannot be reached. Doing that I/O
inside the request's write transaction would hold the store — on SQLite, every writer —
for as long as the source takes to answer or time out.

So a service asks for it instead: `require(ctx, key, action)` inside the unit raises
`OutsideFirst` unless the action was done already. The runner of the unit (`run`: every
request's unit, the console's buttons) rolls that unit back, runs the action with no
transaction open, and runs the whole unit again, which now finds the action done and
writes. The first pass is thus the read that gathers what to do, the action happens
between the two units, and the second pass is the write; a failing action fails the
request and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from conveyor.services.context import Context

__all__ = ["OutsideFirst", "require", "run"]

T = TypeVar("T")

DONE = "outside_done"
"""`Context.extra` key: the keys of the actions done before this unit opened."""
MAX_PASSES = 8
"""A unit asking for more actions than this in a row is a bug, not a request."""


class OutsideFirst(Exception):
    """The unit must be run again once `action` is done with no transaction open."""

    def __init__(self, key: str, action: Callable[[], None]) -> None:
        super().__init__(f"to do first, outside the transaction: {key}")
        self.key = key
        self.action = action


def require(ctx: Context, key: str, action: Callable[[], None]) -> None:
    """Go on when `action` (known by `key`) was done before this unit; otherwise have the
    runner do it outside any transaction and run the unit again."""
    done = ctx.extra.get(DONE)
    if isinstance(done, set) and key in done:
        return
    raise OutsideFirst(key, action)


def run(
    open_unit: Callable[[], AbstractContextManager[Context]], body: Callable[[Context], T]
) -> T:
    """Run `body` in a unit from `open_unit`, doing between two units the outside actions
    it asks for (`require`)."""
    done: set[str] = set()
    for _ in range(MAX_PASSES):
        try:
            with open_unit() as ctx:
                ctx.extra[DONE] = done
                return body(ctx)
        except OutsideFirst as ask:
            if ask.key in done:
                raise RuntimeError(f"{ask.key} asked for again after it was done") from ask
            ask.action()  # no transaction open: the unit was rolled back
            done.add(ask.key)
    raise RuntimeError(f"a unit asked for more than {MAX_PASSES} outside actions")
