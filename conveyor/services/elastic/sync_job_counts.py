"""How many sync jobs Elastic's list matches, counted without reading every run.

A sync job is a run with a record in `elastic_sync_jobs` (posted through Elastic's API),
or a run of a connector's job without one; a record's connector and job type stand for
the run's own. Counted as one condition — recorded or a connector's run — the database
can use no index and read every run (190-640 ms for a million runs on PostgreSQL). The
two kinds are disjoint, so the count is the sum of

- the recorded runs that match, read from the records (`elastic_sync_jobs` holds only
  what Elastic's API posted);
- the connectors' runs that match, from `run_counts` when no job type is asked for (else
  from the runs of those jobs, through their index), less those among them with a
  record (from the records again).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select

from conveyor.services.context import Context
from conveyor.store.models import ElasticConnector, ElasticSyncJob, Run, RunCount


def count(
    ctx: Context,
    status: str | None,
    connector_id: str | None,
    kinds: Sequence[str],
) -> int:
    """The number of visible sync jobs in `status`, of `connector_id`, of those job
    types (each condition only when given) — what `sync_jobs.list_` lists."""
    session = ctx.session
    visible = ctx.principal.workspace_ids
    on_run: list[ColumnElement[bool]] = []
    if status:
        on_run.append(Run.status == status)
    if visible:
        on_run.append(Run.workspace_id.in_(visible))
    recorded = (
        select(func.count()).select_from(ElasticSyncJob).join(Run, Run.id == ElasticSyncJob.run_id)
    )
    # With no record at all (sync jobs started natively), neither count of records is
    # asked: a planner that has no statistics of the empty table may read it from the
    # runs' side, one probe per run of the connectors (500 ms for 100,000 on SQLite).
    any_record = session.scalar(select(ElasticSyncJob.run_id).limit(1)) is not None
    record_matches = [*on_run]
    if connector_id:
        record_matches.append(ElasticSyncJob.connector_id == connector_id)
    if kinds:
        record_matches.append(ElasticSyncJob.job_type.in_(kinds))
    total = (session.scalar(recorded.where(*record_matches)) or 0) if any_record else 0

    jobs = select(ElasticConnector.job_id)
    if connector_id:
        jobs = jobs.where(ElasticConnector.job_id == connector_id)
    run_matches = [*on_run, Run.job_id.in_(jobs)]
    if kinds:
        run_matches.append(Run.load.in_(kinds))
        total += session.scalar(select(func.count()).select_from(Run).where(*run_matches)) or 0
    else:
        kept: list[ColumnElement[bool]] = [RunCount.job_id.in_(jobs)]
        if status:
            kept.append(RunCount.status == status)
        if visible:
            kept.append(RunCount.workspace_id.in_(visible))
        total += session.scalar(select(func.coalesce(func.sum(RunCount.runs), 0)).where(*kept)) or 0
    # The connectors' runs that have a record were counted as recorded ones (or not at all).
    if any_record:
        total -= session.scalar(recorded.where(*run_matches)) or 0
    return int(total)
