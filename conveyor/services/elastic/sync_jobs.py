"""Elastic sync jobs: runs of connector jobs, shown as Elastic's sync job documents.

A sync job of a Conveyor-run connector is an ordinary run of its job (queued by
`runs.enqueue`, executed by Conveyor's workers, counted by the engine). A sync job of a
self-managed connector is a run with `executor = external`: Conveyor's workers never
claim it; an external worker `_claim`s it, `_check_in`s, reports `_stats` and `_error`,
and the sweeper fails it when it goes silent. `elastic_sync_jobs` keeps what the
document has beyond the run (connector snapshot, `access_control`, totals, metadata).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, or_, select

from conveyor.domain import RunJobType, TriggerMethod, utcnow
from conveyor.errors import InvalidInput, NotFound
from conveyor.queue.manager import CONVEYOR, EXTERNAL
from conveyor.schemas.elastic import SyncJobStats, SyncJobType
from conveyor.services import audit, runs
from conveyor.services.context import Context
from conveyor.services.elastic import connectors, wiring
from conveyor.services.elastic.connectors import iso
from conveyor.store.models import ElasticConnector, ElasticSyncJob, Run

MIB = 1024 * 1024
ELASTIC_TRIGGERS = ("on_demand", "scheduled")


def _sync_jobs() -> Select[Run, ElasticSyncJob]:
    """Runs Elastic sees: posted through it, or runs of a connector's job."""
    return (
        select(Run, ElasticSyncJob)
        .outerjoin(ElasticSyncJob, ElasticSyncJob.run_id == Run.id)
        .where(
            or_(
                ElasticSyncJob.run_id.is_not(None),
                Run.job_id.in_(select(ElasticConnector.job_id)),
            )
        )
    )


def get(ctx: Context, run_id: str) -> tuple[Run, ElasticSyncJob | None]:
    """A visible sync job and its Elastic fields, or 404."""
    row = ctx.session.execute(_sync_jobs().where(Run.id == run_id)).first()
    if row is None or not ctx.principal.sees(row[0].workspace_id):
        raise NotFound(f"connector sync job [{run_id}] not found")
    run, ext = row
    return run, ext


def _snapshot(row: ElasticConnector) -> dict[str, Any]:
    """The connector as a sync job records it: its active filtering of the DEFAULT domain."""
    document = row.document
    filtering = document.get("filtering") or []
    return {
        "configuration": document.get("configuration") or {},
        "filtering": filtering[0].get("active") if filtering else None,
        "id": row.job_id,
        "index_name": row.index_name,
        "language": row.language,
        "pipeline": document.get("pipeline"),
        "service_type": row.service_type,
        "sync_cursor": document.get("sync_cursor"),
    }


def post(ctx: Context, connector_id: str, job_type: SyncJobType, trigger: str) -> Run:
    """Queue a sync job of a connector: a run for Conveyor's workers or an external one."""
    ctx.principal.require_write()
    try:
        row = connectors.get(ctx, connector_id)
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
        run = runs.enqueue(ctx, job, None, RunJobType(job_type.value), None, TriggerMethod(trigger))
    else:
        run = Run(
            workspace_id=job.workspace_id,
            job_id=job.id,
            job_name=job.name,
            job_type=RunJobType.full.value
            if job_type is SyncJobType.access_control
            else job_type.value,
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
            connector=_snapshot(row),
        )
    )
    ctx.session.flush()
    audit.note(run.id, run.workspace_id)
    return run


def list_(
    ctx: Context,
    offset: int,
    size: int,
    status: str | None,
    connector_id: str | None,
    job_types: list[str],
) -> tuple[list[tuple[Run, ElasticSyncJob | None]], int]:
    """A page of visible sync jobs, oldest first, and the total they match."""
    statement = _sync_jobs()
    if ctx.principal.workspace_ids:
        statement = statement.where(Run.workspace_id.in_(ctx.principal.workspace_ids))
    if status:
        statement = statement.where(Run.status == status)
    if connector_id:
        statement = statement.where(
            func.coalesce(ElasticSyncJob.connector_id, Run.job_id) == connector_id
        )
    if job_types:
        statement = statement.where(
            func.coalesce(ElasticSyncJob.job_type, Run.job_type).in_(job_types)
        )
    total = ctx.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = statement.order_by(Run.created_at, Run.id).offset(offset).limit(size)
    return [(run, ext) for run, ext in ctx.session.execute(page)], total


def _changing(ctx: Context, run_id: str) -> tuple[Run, ElasticSyncJob | None]:
    """A sync job the caller is about to change (viewers cannot), noted for the audit log."""
    ctx.principal.require_write()
    run, ext = get(ctx, run_id)
    audit.note(run.id, run.workspace_id)
    return run, ext


def delete(ctx: Context, run_id: str) -> None:
    """Forget a sync job; one Conveyor is running is refused (409) until it is final."""
    run, _ = _changing(ctx, run_id)
    if run.executor == CONVEYOR:
        runs.delete(ctx, run_id)
    else:
        ctx.session.delete(run)


def cancel(ctx: Context, run_id: str) -> Run:
    """pending/suspended → canceled at once; in_progress → canceling; final → 400."""
    return ctx.queue.request_cancel(ctx.session, _changing(ctx, run_id)[0])


def check_in(ctx: Context, run_id: str) -> Run:
    return ctx.queue.check_in_external(ctx.session, _changing(ctx, run_id)[0])


def _extension(ctx: Context, run: Run, ext: ElasticSyncJob | None) -> ElasticSyncJob:
    if ext is None:
        ext = ElasticSyncJob(run_id=run.id, connector_id=run.job_id or "", job_type=run.job_type)
        ctx.session.add(ext)
    return ext


def claim(ctx: Context, run_id: str, hostname: str, sync_cursor: Any) -> Run:
    """An external worker takes the job, recording the cursor it starts from."""
    run, ext = _changing(ctx, run_id)
    ctx.queue.claim_external(ctx.session, run, hostname)
    if sync_cursor is not None:
        ext = _extension(ctx, run, ext)
        ext.sync_cursor = sync_cursor
        ext.connector = {**ext.connector, "sync_cursor": sync_cursor}
    return run


def error(ctx: Context, run_id: str, message: str) -> Run:
    return ctx.queue.fail_external(ctx.session, _changing(ctx, run_id)[0], message)


def stats(ctx: Context, run_id: str, data: SyncJobStats) -> Run:
    """An external worker's counts; `indexed_document_volume` is in MiB."""
    run, ext = _changing(ctx, run_id)
    ctx.queue.report_external(
        ctx.session,
        run,
        rows_written=data.indexed_document_count,
        rows_deleted=data.deleted_document_count,
        bytes_written=data.indexed_document_volume * MIB,
        last_seen=data.last_seen,
    )
    ext = _extension(ctx, run, ext)
    if data.total_document_count is not None:
        ext.total_document_count = data.total_document_count
    if data.metadata is not None:
        ext.meta = data.metadata
    return run


def document(ctx: Context, run: Run, ext: ElasticSyncJob | None) -> dict[str, Any]:
    """The sync job as Elasticsearch returns it."""
    if ext is not None:
        connector = ext.connector
    else:
        row = ctx.session.get(ElasticConnector, run.job_id) if run.job_id else None
        connector = _snapshot(row) if row is not None else {"id": run.job_id}
    external = run.executor == EXTERNAL
    stamp: dict[str, dt.datetime | None] = {
        "cancelation_requested_at": run.cancelation_requested_at,
        "canceled_at": run.canceled_at,
        "completed_at": run.completed_at,
        "created_at": run.created_at,
        "last_seen": run.last_seen,
        "started_at": run.started_at,
    }
    return {
        **{key: iso(value) for key, value in stamp.items()},
        "connector": connector,
        "deleted_document_count": run.rows_deleted,
        "error": run.error,
        "id": run.id,
        "indexed_document_count": run.rows_written,
        "indexed_document_volume": round(run.bytes_written / MIB),
        "job_type": ext.job_type if ext is not None else run.job_type,
        "metadata": ext.meta if ext is not None else {},
        "status": run.status,
        "total_document_count": (ext.total_document_count if ext else 0)
        if external
        else run.rows_read,
        "trigger_method": run.trigger_method
        if run.trigger_method in ELASTIC_TRIGGERS
        else "on_demand",
        "worker_hostname": run.worker_hostname,
    }
