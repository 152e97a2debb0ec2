"""A connector's sync jobs, listed by walking its job's runs in their index's order.

A sync job is a run with a record in `elastic_sync_jobs` (posted through Elastic's API),
or a run of a connector's job without one; a record's connector and job type stand for
the run's own. Filtered by connector as one condition — "recorded as this connector's,
or a run of its job with no record" — the database can serve neither side's order from
an index: SQLite read every run of the job through two indexes and sorted them for a
page of 50 (13 ms at 200,000 runs, 74 ms at a million, growing with the history).

Sync jobs list oldest first (`created_at`, then `id`), which `ix_runs_job_created`
(`job_id`, `created_at`) gives for one job. Every record Conveyor writes names the
connector whose job the run is of (a connector's id is its job's), so a connector's sync
jobs are its job's runs — less those recorded as another connector's — and the records
of this connector on a run of another job, which only a store written by hand holds
(`_strays`). The list is then the job's runs read in index order, each checked against
its record (a lookup by key), and the strays with them when there are any.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from conveyor.store.models import ElasticConnector, ElasticSyncJob, Run


def _record_where(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether the run has a record that meets `conditions`: one lookup by key."""
    return (
        select(ElasticSyncJob.run_id).where(ElasticSyncJob.run_id == Run.id, *conditions).exists()
    )


def _strays(session: Session, connector_id: str) -> list[str]:
    """The runs recorded as the connector's sync jobs that are not runs of its job.

    Conveyor records none (a sync job is queued on its connector's job); reads the
    connector's records, and nothing when it has none."""
    return list(
        session.scalars(
            select(ElasticSyncJob.run_id)
            .join(Run, Run.id == ElasticSyncJob.run_id)
            .where(
                ElasticSyncJob.connector_id == connector_id,
                or_(Run.job_id.is_(None), Run.job_id != connector_id),
            )
        )
    )


def of_connector(
    session: Session, statement: Select[Run], connector_id: str, kinds: Sequence[str]
) -> Select[Run]:
    """`statement` (a select of runs) narrowed to the connector's sync jobs of those job
    types (any when none are given): exactly the runs that `sync_jobs.list_` lists for it,
    in conditions the job's runs' index serves in the list's order."""
    is_connector = (
        session.scalar(
            select(ElasticConnector.job_id).where(ElasticConnector.job_id == connector_id)
        )
        is not None
    )
    if not is_connector:
        # No run is a sync job of it but those recorded as such (only a store written by
        # hand holds them): read through the records' index.
        recorded = select(ElasticSyncJob.run_id).where(ElasticSyncJob.connector_id == connector_id)
        if kinds:
            recorded = recorded.where(ElasticSyncJob.job_type.in_(kinds))
        return statement.where(Run.id.in_(recorded))
    own = Run.job_id == connector_id
    strays = _strays(session, connector_id)
    statement = statement.where(or_(own, Run.id.in_(strays)) if strays else own)
    # Each run checked against its record, if any (a lookup by key), in conditions a
    # planner takes for what they are — few runs are excluded — where a `coalesce` of
    # the record's value and the run's was guessed to keep one run in 200, and
    # PostgreSQL sorted the job's every run rather than walk them in order.
    statement = statement.where(~_record_where(ElasticSyncJob.connector_id != connector_id))
    if kinds:
        statement = statement.where(
            ~_record_where(ElasticSyncJob.job_type.not_in(kinds)),
            or_(Run.load.in_(kinds), _record_where()),
        )
    return statement
