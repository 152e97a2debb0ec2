"""Runs as a queue of jobs: their class, retry count and listing.

The JSON:API sync service shows every run as a job of a *class* with a *retry count*;
both are SQL expressions here so that they filter and sort like any column:

- `job_class`: `replicate` (a job's run on Conveyor's workers), `transformation`, or
  `connector_sync` (a self-managed Elastic connector's sync job, run by an external
  worker);
- `retry_count`: attempts before this one (`attempt - 1`).

Retrying a run is the runs service's (`run_retry`), as the native API offers it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import case, select
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from conveyor.queue.manager import EXTERNAL
from conveyor.schemas.runs import RunOut
from conveyor.services import listing, lookup, run_counts, runs
from conveyor.services.context import Context
from conveyor.store.models import Job, Run, Transformation, User, Workspace

JOB_CLASS = case(
    (Run.kind == "transformation", "transformation"),
    (Run.executor == EXTERNAL, "connector_sync"),
    else_="replicate",
)
RETRY_COUNT = Run.attempt - 1
FIELDS: dict[str, InstrumentedAttribute[Any]] = {
    "id": Run.id,
    "job_class": cast(InstrumentedAttribute[Any], JOB_CLASS),
    "priority": Run.priority,
    "status": Run.status,
    "progress": Run.progress,
    "retry_count": cast(InstrumentedAttribute[Any], RETRY_COUNT),
    "error": Run.error,
    "unicity": Run.unicity,
    "scheduled_at": Run.scheduled_at,
    "created_at": Run.created_at,
    "updated_at": Run.updated_at,
    "started_at": Run.started_at,
    "completed_at": Run.completed_at,
    "job_id": Run.job_id,
    "job_name": Run.job_name,
}
"""What runs filter and sort by, under the JSON:API service's names."""


@dataclass(frozen=True)
class Related:
    """A workspace, job, transformation or user that runs refer to, in brief."""

    name: str
    type: str | None = None
    """A job's type."""
    role: str | None = None
    """A user's role."""


def job_class(run: RunOut) -> str:
    """The class of a run (as `JOB_CLASS` computes it in SQL)."""
    if run.kind == "transformation":
        return "transformation"
    return "connector_sync" if run.executor == EXTERNAL else "replicate"


def list_(ctx: Context, params: listing.ListParams) -> listing.Paged[RunOut]:
    """Visible runs, filtered and sorted by `FIELDS`, oldest first by default."""
    # Each run shows its task results: read for the page at once, not a query per run.
    statement = select(Run).options(selectinload(Run.task_results))
    statement = lookup.visible(ctx, statement, Run.workspace_id)
    statement = listing.apply(statement, params, FIELDS, ("created_at",))
    count = run_counts.counter(ctx.session, params.filters, ctx.principal.workspace_ids)
    return listing.page(ctx.session, statement, params, count).map(runs.to_out)


def related(ctx: Context, items: Iterable[RunOut]) -> dict[str, dict[str, Related]]:
    """The workspaces (`project`), jobs (`definition`), transformations and users
    (`created_by`) the runs refer to, by kind and id."""
    items = list(items)
    wanted: dict[str, tuple[Any, set[str]]] = {
        "project": (Workspace, {r.workspace_id for r in items}),
        "definition": (Job, {r.job_id for r in items if r.job_id}),
        "transformation": (Transformation, {r.transformation_id or "" for r in items} - {""}),
        "created_by": (User, {r.created_by for r in items if r.created_by}),
    }
    found: dict[str, dict[str, Related]] = {kind: {} for kind in wanted}
    for kind, (model, ids) in wanted.items():
        if ids:
            for row in ctx.session.scalars(select(model).where(model.id.in_(ids))):
                kept = Related(row.name, getattr(row, "type", None), getattr(row, "role", None))
                found[kind][row.id] = kept
    return found
