"""Staging tables a killed run left behind, dropped by the next run of the same job.

A run drops its staging tables when a load ends, fails or is canceled; a run whose
process was killed cannot. Staging names carry the job and the run
(`_conveyor_stage_<job>_<run>_<table>`, `planner.TaskPlan.staging`), and a job has at most
one active run, so when a run of a job starts, every staging table of that job named with
another run is a leftover: it is dropped. Another job's staging tables are never touched,
nor are names of the older form, which say nothing of their job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from conveyor.connectors.base import Discoverable, HidesInternal, TableRef, Writable
from conveyor.engine.planner import short_id, staging_prefix

__all__ = ["drop_leftovers", "leftovers"]


def leftovers(destination: Writable, job_id: str, run_id: str) -> list[TableRef]:
    """The staging tables of the job's other runs that the destination holds."""
    prefix = staging_prefix(job_id)
    own = f"{prefix}{short_id(run_id)}_"
    found: list[TableRef] = []
    if isinstance(destination, HidesInternal):
        found += destination.internal_tables(prefix)
    if isinstance(destination, Discoverable):
        found += [info.ref for info in destination.list_tables()]
    return sorted(
        {ref for ref in found if ref.name.startswith(prefix) and not ref.name.startswith(own)}
    )


def drop_leftovers(
    destination: Writable, job_id: str, run_id: str, log: Callable[[str, str], None]
) -> list[TableRef]:
    """Drop the staging tables the job's killed runs left; return those dropped.

    Never fails the run: a destination that cannot list or drop them is logged and the
    run goes on (its own staging tables have names of their own).
    """
    try:
        found = leftovers(destination, job_id, run_id)
    except Exception as exc:
        log("warning", f"staging tables of earlier runs not looked for: {exc}")
        return []
    dropped = []
    for table in found:
        with contextlib.suppress(Exception):
            destination.drop_table(table)
            dropped.append(table)
    if dropped:
        names = ", ".join(str(t) for t in dropped)
        log("info", f"dropped {len(dropped)} staging tables earlier runs of this job left: {names}")
    if len(dropped) < len(found):
        kept = ", ".join(str(t) for t in found if t not in dropped)
        log("warning", f"staging tables of earlier runs could not be dropped: {kept}")
    return dropped
