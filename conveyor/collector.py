"""The cyclic garbage collector in a short-lived process: kept off what lives until exit.

A one-off `conveyor run` imports a few hundred modules (sqlglot's grammar, pydantic's
models, pyarrow, three database drivers) whose objects all live until the process ends.
The collector traced them again on every full collection: while they were being imported
(each import allocates enough to trigger collections), and once more at exit, when the
interpreter's final collections walked every one of them before the process could end —
together about a fifth of a short run's CPU. Frozen objects are never traced again;
objects made afterwards are collected as usual, so a run's own garbage still goes.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["before_exit", "long_lived", "paused", "server_started", "server_stopped"]


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """Make what the block creates (imports, mostly) permanent: no collection runs inside
    it, and everything alive at its end is frozen out of later collections."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def before_exit() -> None:
    """Spare the process's last moments the collector's walk over everything it holds
    (the work is done; the memory goes back with the process)."""
    gc.freeze()


_collected = False
"""Whether start-up's garbage was collected in this process (`server_started`)."""


def server_started() -> None:
    """Freeze what a server made to start (its modules, routes, models, templates,
    connectors): it lives as long as the process. A full collection walked all of it —
    a quarter of a million objects, 50-600 ms depending on the machine's load — once every
    few dozen requests, and that pause was the slowest request of any page; frozen, a full
    collection walks only what requests made since. What start-up left as garbage is
    collected first, so it is not frozen with the rest — once per process: a process that
    starts app after app (the tests) would otherwise walk its whole heap at every start.
    Freezing itself costs nothing (a list splice), so it may be repeated."""
    global _collected
    if not _collected:
        _collected = True
        gc.collect()
    gc.freeze()


def server_stopped() -> None:
    """Hand the frozen objects back to the collector, so a process that builds and drops
    apps (the tests) frees them."""
    gc.unfreeze()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collection inside the block (imports of objects that live until exit): the
    collector runs again after it, as it did before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
