"""`command_timeout` inside a connector: the error, and stopping a statement that ran too long.

A job's `command_timeout` bounds every statement a connector runs on its own connection
(catalog lookups, DDL, swaps, merges, transformations). Servers enforce it themselves
(PostgreSQL `statement_timeout`, MariaDB `max_statement_time`); an embedded database
is stopped from outside: DuckDB is interrupted (`interrupt_after`), and SQLite through
ADBC, which cannot be interrupted, is abandoned (`abandon_after`): the run stops waiting
for it and the statement ends with the run's process, its transaction rolled back.
Row streams are bounded by the gap between batches instead (see `engine.stream`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from conveyor.errors import CommandTimedOut

__all__ = ["abandon_after", "interrupt_after", "statement_head", "timed_out"]

T = TypeVar("T")
_HEAD = 120


def statement_head(statement: str) -> str:
    """The start of a statement on one line, for messages (long merges are cut)."""
    text = " ".join(statement.split())
    return text if len(text) <= _HEAD else text[: _HEAD - 1] + "…"


def timed_out(seconds: float, statement: str, what: str = "") -> CommandTimedOut:
    """The error of a statement stopped after `seconds`, naming it (and `what` it was on)."""
    prefix = f"{what}: " if what else ""
    return CommandTimedOut(
        f"{prefix}the statement {statement_head(statement)!r} ran longer than "
        f"command_timeout ({seconds:g} s) and was stopped",
        timeout=seconds,
    )


@contextlib.contextmanager
def interrupt_after(
    seconds: float | None, interrupt: Callable[[], object], statement: str, what: str = ""
) -> Iterator[None]:
    """Run the body, calling `interrupt` (from another thread) once `seconds` have passed.

    Whatever the body raises after the interrupt fired becomes `timed_out`'s error. An
    interrupt never fires once the body has ended, so it cannot hit a later statement.
    """
    if seconds is None:
        yield
        return
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if state["done"]:
                return
            state["fired"] = True
            with contextlib.suppress(Exception):
                interrupt()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Exception as exc:
        with lock:
            state["done"] = True
        if state["fired"]:
            raise timed_out(seconds, statement, what) from exc
        raise
    finally:
        with lock:
            state["done"] = True
        timer.cancel()


def abandon_after(
    seconds: float | None,
    work: Callable[[], T],
    abandon: Callable[[], object],
    statement: str,
    what: str = "",
) -> T:
    """`work()`'s result, or `timed_out`'s error once `seconds` have passed without one.

    For a driver that cannot stop a statement: the work runs in a thread of its own, and
    on timeout `abandon` lets go of its connection (never closing it under the running
    statement) so the caller carries on with a fresh one.
    """
    if seconds is None:
        return work()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised on the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="conveyor-statement", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        abandon()
        raise timed_out(seconds, statement, what)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
