"""Loads whose rows pass from source to destination undecoded, where both ends allow it.

Two servers of one kind can hand rows over in their own binary format (PostgreSQL's
binary COPY, relayed as bytes). The engine asks the destination for such a relay only
when the staged rows are the source's rows unchanged — no declared types, no GMT
conversion, no truncation, no bookkeeping columns — and the destination declines unless
every column has exactly the same type on both ends; otherwise the load takes the Arrow
stream. Cancelation, progress and `command_timeout` behave as they do between batches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from conveyor.connectors.base import Relays, TableRef, TableSchema
from conveyor.engine import cursor as cursors
from conveyor.engine.context import TaskContext
from conveyor.engine.planner import TaskPlan
from conveyor.engine.reporting import raise_if_canceled
from conveyor.engine.shape import Shape
from conveyor.engine.stream import source_stalled


def relay(
    ctx: TaskContext,
    plan: TaskPlan,
    shape: Shape,
    layout: TableSchema,
    staging: TableRef,
    statements: Sequence[str],
    highest: cursors.RunningMax,
    expected: int | None,
) -> int | None:
    """Create `staging` and relay the statements' rows into it; None when no relay applies.

    When None is returned, no staging table is left behind.
    """
    destination = ctx.destination
    if not isinstance(destination, Relays) or not shape.passes_through:
        return None
    destination.create_table(staging, layout)
    prepared = destination.relay_from(ctx.source, statements, staging, highest.column)
    if prepared is None:
        destination.drop_table(staging)
        return None
    ctx.log(f"{plan.target}: rows relayed in the source's binary format (same types)", "debug")
    timeout = plan.settings.command_timeout
    last_change, last_received = time.monotonic(), 0

    def poll(rows: int, received: int) -> None:
        nonlocal last_change, last_received
        raise_if_canceled(ctx.cancel)
        now = time.monotonic()
        if received != last_received:
            last_change, last_received = now, received
        elif timeout is not None and now - last_change > timeout:
            raise source_stalled(timeout)
        ctx.progress(rows, expected)

    result = prepared.run(poll)
    highest.fold(result.highest)
    ctx.result.bytes_written += result.bytes
    ctx.progress(result.rows, expected)
    return result.rows
