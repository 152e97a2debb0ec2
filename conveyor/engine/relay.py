"""Loads whose rows pass from source to destination undecoded, where both ends allow it.

Two servers of one kind can hand rows over in their own binary format (PostgreSQL's
binary COPY, relayed as bytes). The engine asks the destination for such a relay only
when the staged rows are the source's rows unchanged — no declared types, no GMT
conversion, no truncation, no bookkeeping columns — and the destination declines unless
every column has exactly the same type on both ends; otherwise the load takes the Arrow
stream. Cancelation, progress and `command_timeout` behave as they do between batches,
and the check column's largest value is read from the staged rows themselves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import Readable, RelayDeclined, Relays, TableRef, TableSchema
from conveyor.engine import cursor as cursors
from conveyor.engine.context import TaskContext
from conveyor.engine.planner import TaskPlan
from conveyor.engine.reporting import raise_if_canceled
from conveyor.engine.shape import Shape
from conveyor.engine.source import scalar
from conveyor.engine.stream import source_stalled
from conveyor.engine.write_errors import writing


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
    if not (
        isinstance(destination, Relays)
        and shape.passes_through
        and destination.relays_from(ctx.source)
        and (highest.column is None or isinstance(destination, Readable))
    ):
        return None
    with writing(plan.target, [staging]):
        destination.create_table(staging, layout)
    prepared = destination.relay_from(ctx.source, statements, staging)
    if prepared is None:
        destination.drop_table(staging)
        return None
    ctx.log(f"{plan.target}: rows relayed in the source's binary format (same types)", "detail")
    try:
        result = prepared.run(_Poll(ctx, plan.settings.command_timeout, expected))
    except RelayDeclined as declined:
        ctx.log(f"{plan.target}: {declined}; the rows go through Arrow instead", "warning")
        destination.drop_table(staging)
        return None
    if highest.column is not None:
        assert isinstance(destination, Readable)
        largest = exp.select(exp.func("max", exp.column(sql.identifier(highest.column))))
        statement = largest.from_(sql.table_expr(staging)).sql(dialect=destination.dialect)
        check_type = shape.source.field(highest.column).type
        highest.fold(
            scalar(destination, statement, check_type, timeout=plan.settings.command_timeout)
        )
    ctx.result.bytes_written += result.bytes
    ctx.progress(result.rows, expected)
    return result.rows


class _Poll:
    """What the engine does between batches, for a relay: cancel, report, watch for stalls.

    Either end making progress counts: a slow destination holds the source back, which
    is not the source falling silent.
    """

    def __init__(self, ctx: TaskContext, timeout: float | None, expected: int | None) -> None:
        self._ctx, self._timeout, self._expected = ctx, timeout, expected
        self._seen = (0, 0)
        self._since = time.monotonic()

    def __call__(self, rows: int, received: int) -> None:
        raise_if_canceled(self._ctx.cancel)
        now = time.monotonic()
        if (rows, received) != self._seen:
            self._seen, self._since = (rows, received), now
        elif self._timeout is not None and now - self._since > self._timeout:
            raise source_stalled(self._timeout)
        self._ctx.progress(rows, self._expected)
