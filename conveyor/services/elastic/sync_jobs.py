"""Elastic sync jobs: runs of connector jobs, shown as Elastic's sync job documents.

A sync job of a Conveyor-run connector is an ordinary run of its job (queued by
`runs.enqueue`, executed by Conveyor's workers, counted by the engine). A sync job of a
self-managed connector is a run with `executor = external`: Conveyor's workers never
claim it; an external worker `_claim`s it, `_check_in`s, reports `_stats` and `_error`,
and the sweeper fails it when it goes silent. `elastic_sync_jobs` keeps what the
document has beyond the run (connector snapshot, `access_control`, totals, metadata).

What the facade calls answers `SyncJob` values (or nothing); `enqueue` hands the new run
to other services (retrying a run queues a sync job again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select

from conveyor.domain import RunLoad, RunStatus, TriggerMethod, utcnow
from conveyor.errors import InvalidInput, NotFound
from conveyor.queue.manager import CONVEYOR, EXTERNAL
from conveyor.services import audit, listing, runs
from conveyor.services.context import Context
from conveyor.services.elastic import connectors, sync_job_counts, sync_job_lists, wiring
from conveyor.services.elastic.documents import ACCESS_CONTROL_INDEX_PREFIX, SyncJob, SyncJobType
from conveyor.store.models import ElasticConnector, ElasticSyncJob, Run

MIB = 1024 * 1024
ELASTIC_TRIGGERS = ("on_demand", "scheduled")
SAME_AS_RUN = (
    *("cancelation_requested_at", "canceled_at", "completed_at", "created_at", "started_at"),
    *("last_seen", "error", "id", "status", "worker_hostname"),
)
"""The sync job's fields that are the run's, under the same names."""


def _sync_jobs() -> Select[Run]:
    """Runs Elastic sees: posted through it, or runs of a connector's job.

    Conditions on the runs alone (no join), so that the database reads each through an
    index — the connectors' jobs, the recorded sync jobs — and counts without a scan."""
    return select(Run).where(
        or_(
            Run.id.in_(select(ElasticSyncJob.run_id)),
            Run.job_id.in_(select(ElasticConnector.job_id)),
        )
    )


def _recorded_or_run(
    recorded: ColumnElement[bool], otherwise: ColumnElement[bool]
) -> ColumnElement[bool]:
    """Runs whose sync job record matches `recorded`, or, for a run without one, whose
    own columns match `otherwise` — `coalesce(<record's field>, <run's field>)` compared,
    but through the indexes of each table rather than a join over every run."""
    return or_(
        Run.id.in_(select(ElasticSyncJob.run_id).where(recorded)),
        and_(
            otherwise,
            ~select(ElasticSyncJob.run_id).where(ElasticSyncJob.run_id == Run.id).exists(),
        ),
    )


def _visible(ctx: Context, run_id: str) -> Run:
    """A sync job's run, if the caller sees it; else 404."""
    run = ctx.session.scalars(_sync_jobs().where(Run.id == run_id)).first()
    if run is None or not ctx.principal.sees(run.workspace_id):
        raise NotFound(f"connector sync job [{run_id}] not found")
    return run


def get(ctx: Context, run_id: str) -> SyncJob:
    """A visible sync job, or 404."""
    run = _visible(ctx, run_id)
    return view(ctx, run, ctx.session.get(ElasticSyncJob, run.id))


def _snapshot(row: ElasticConnector, job_type: SyncJobType | None = None) -> dict[str, Any]:
    """The connector as a sync job records it: its active filtering of the DEFAULT domain;
    an access-control sync fills the connector's `.search-acl-filter-` index."""
    document = row.document
    filtering = document.get("filtering") or []
    index_name = row.index_name
    if job_type is SyncJobType.access_control and index_name:
        index_name = ACCESS_CONTROL_INDEX_PREFIX + index_name
    return {
        "configuration": document.get("configuration") or {},
        "filtering": filtering[0].get("active") if filtering else None,
        "id": row.job_id,
        "index_name": index_name,
        "language": row.language,
        "pipeline": document.get("pipeline"),
        "service_type": row.service_type,
        "sync_cursor": document.get("sync_cursor"),
    }


def _syncable(ctx: Context, connector_id: str) -> ElasticConnector:
    """A connector that may start a sync: it has an index and a service type."""
    try:
        row = connectors.visible(ctx, connector_id)
    except NotFound:
        raise NotFound(f"Connector with id '{connector_id}' does not exist.") from None
    if not row.index_name:
        raise InvalidInput(
            f"Cannot start a sync for connector [{connector_id}] with no index attached. "
            "Set the [index_name] property for the connector to enable syncing data."
        )
    if not row.service_type:
        raise InvalidInput(
            f"Cannot start a sync for connector [{connector_id}] with [service_type] not "
            "defined. Set the service type of your connector before starting the sync."
        )
    return row


def enqueue(ctx: Context, connector_id: str, job_type: SyncJobType, trigger: str) -> Run:
    """Queue a sync job of a connector: a run for Conveyor's workers or an external one."""
    ctx.principal.require_write()
    row = _syncable(ctx, connector_id)
    job = connectors.job_of(ctx, row)
    if wiring.runs_on_conveyor(row):
        if job_type is SyncJobType.access_control:
            raise InvalidInput(
                "access_control sync jobs need a self-managed connector: Conveyor's workers "
                "run full and incremental syncs"
            )
        lacking = wiring.missing(row)
        if lacking:
            raise InvalidInput(
                f"connector [{connector_id}] cannot sync yet: set {', '.join(lacking)}"
            )
        run = runs.enqueue(ctx, job, None, RunLoad(job_type.value), None, TriggerMethod(trigger))
    else:
        run = Run(
            workspace_id=job.workspace_id,
            job_id=job.id,
            job_name=job.name,
            load=RunLoad.full.value if job_type is SyncJobType.access_control else job_type.value,
            trigger_method=trigger,
            priority=job.priority,
            unicity=None,  # an external connector service may queue several
            tasks_total=0,
            created_by=ctx.principal.user_id,
            executor=EXTERNAL,
            last_seen=utcnow(),
        )
        ctx.queue.enqueue(ctx.session, run)
    ctx.session.add(
        ElasticSyncJob(
            run_id=run.id,
            connector_id=connector_id,
            job_type=job_type.value,
            connector=_snapshot(row, job_type),
        )
    )
    ctx.session.flush()
    audit.note(run.id, run.workspace_id)
    return run


def post(ctx: Context, connector_id: str, job_type: SyncJobType, trigger: str) -> str:
    """Queue a sync job of a connector; its id."""
    return enqueue(ctx, connector_id, job_type, trigger).id


def list_(
    ctx: Context,
    offset: int,
    size: int,
    *,
    status: RunStatus | None,
    connector_id: str | None,
    job_types: list[SyncJobType],
) -> listing.Paged[SyncJob]:
    """A page of visible sync jobs, oldest first, and the total they match."""
    statement = select(Run) if connector_id else _sync_jobs()
    if ctx.principal.workspace_ids:
        statement = statement.where(Run.workspace_id.in_(ctx.principal.workspace_ids))
    if status:
        statement = statement.where(Run.status == status.value)
    kinds = [kind.value for kind in job_types]
    if connector_id:
        statement = sync_job_lists.of_connector(ctx.session, statement, connector_id, kinds)
    elif kinds:
        statement = statement.where(
            _recorded_or_run(ElasticSyncJob.job_type.in_(kinds), Run.load.in_(kinds))
        )
    ordered = statement.order_by(Run.created_at, Run.id)

    def total() -> int:
        return sync_job_counts.count(ctx, status.value if status else None, connector_id, kinds)

    found = listing.page(ctx.session, ordered, listing.ListParams(size, offset), total)
    ids = [run.id for run in found.rows]
    exts = ctx.session.scalars(select(ElasticSyncJob).where(ElasticSyncJob.run_id.in_(ids)))
    by_run = {ext.run_id: ext for ext in exts}
    # The connectors of the runs without a record, read at once (not one statement each).
    job_ids = {run.job_id for run in found.rows if run.id not in by_run and run.job_id}
    by_job = {
        row.job_id: row
        for row in ctx.session.scalars(
            select(ElasticConnector).where(ElasticConnector.job_id.in_(job_ids))
        )
    }
    items = [view(ctx, run, by_run.get(run.id), by_job) for run in found.rows]
    return listing.Paged(items, found.total, size, offset)


def _changing(ctx: Context, run_id: str) -> tuple[Run, ElasticSyncJob | None]:
    """A sync job the caller is about to change (viewers cannot), noted for the audit log."""
    ctx.principal.require_write()
    run = _visible(ctx, run_id)
    audit.note(run.id, run.workspace_id)
    return run, ctx.session.get(ElasticSyncJob, run.id)


def delete(ctx: Context, run_id: str) -> None:
    """Forget a sync job; one Conveyor is running is refused (409) until it is final."""
    run, _ = _changing(ctx, run_id)
    if run.executor == CONVEYOR:
        runs.delete(ctx, run_id)
    else:
        ctx.session.delete(run)


def cancel(ctx: Context, run_id: str) -> None:
    """pending/suspended → canceled at once; in_progress → canceling; final → 400.

    A sync job canceled at once was, as Elastic records it, asked to cancel, canceled
    and completed at the same instant."""
    run = ctx.queue.request_cancel(ctx.session, _changing(ctx, run_id)[0])
    if run.status == RunStatus.canceled.value:
        run.cancelation_requested_at = run.canceled_at


def check_in(ctx: Context, run_id: str) -> None:
    """An external worker is alive."""
    ctx.queue.check_in_external(ctx.session, _changing(ctx, run_id)[0])


def _extension(ctx: Context, run: Run, ext: ElasticSyncJob | None) -> ElasticSyncJob:
    if ext is None:
        ext = ElasticSyncJob(run_id=run.id, connector_id=run.job_id or "", job_type=run.load)
        ctx.session.add(ext)
    return ext


def claim(
    ctx: Context, run_id: str, worker_hostname: str, sync_cursor: dict[str, Any] | None = None
) -> None:
    """An external worker takes the job, recording the cursor it starts from."""
    run, ext = _changing(ctx, run_id)
    ctx.queue.claim_external(ctx.session, run, worker_hostname)
    if sync_cursor is not None:
        ext = _extension(ctx, run, ext)
        ext.sync_cursor = sync_cursor
        ext.connector = {**ext.connector, "sync_cursor": sync_cursor}


def error(ctx: Context, run_id: str, error: str) -> None:
    """An external worker reports that the job failed."""
    ctx.queue.fail_external(ctx.session, _changing(ctx, run_id)[0], error)


def stats(
    ctx: Context,
    run_id: str,
    *,
    indexed_document_count: int,
    deleted_document_count: int,
    indexed_document_volume: int,
    total_document_count: int | None = None,
    metadata: dict[str, Any] | None = None,
    last_seen: dt.datetime | None = None,
) -> None:
    """An external worker's counts (absolute); `indexed_document_volume` is in MiB."""
    run, ext = _changing(ctx, run_id)
    ctx.queue.report_external(
        ctx.session,
        run,
        rows_written=indexed_document_count,
        rows_deleted=deleted_document_count,
        bytes_written=indexed_document_volume * MIB,
        last_seen=last_seen,
    )
    ext = _extension(ctx, run, ext)
    if total_document_count is not None:
        ext.total_document_count = total_document_count
    if metadata is not None:
        ext.meta = metadata


def view(
    ctx: Context,
    run: Run,
    ext: ElasticSyncJob | None,
    connectors_by_job: Mapping[str, ElasticConnector] | None = None,
) -> SyncJob:
    """The sync job as Elastic shows it: a run of another trigger (a retry, a datafeed) was
    started on demand, and an external worker reports the total itself. A list passes the
    connectors of its page's runs (`connectors_by_job`), read in one statement."""
    if ext is not None:
        connector = ext.connector
    else:
        row = None
        if connectors_by_job is not None:
            row = connectors_by_job.get(run.job_id or "")
        elif run.job_id:
            row = ctx.session.get(ElasticConnector, run.job_id)
        connector = _snapshot(row) if row is not None else {"id": run.job_id}
    external = run.executor == EXTERNAL
    return SyncJob(
        **{name: getattr(run, name) for name in SAME_AS_RUN},
        connector=connector,
        deleted_document_count=run.rows_deleted,
        indexed_document_count=run.rows_written,
        indexed_document_volume=round(run.bytes_written / MIB),
        job_type=ext.job_type if ext is not None else run.load,
        metadata=ext.meta if ext is not None else {},
        total_document_count=(ext.total_document_count if ext else 0)
        if external
        else run.rows_read,
        trigger_method=run.trigger_method
        if run.trigger_method in ELASTIC_TRIGGERS
        else "on_demand",
    )
