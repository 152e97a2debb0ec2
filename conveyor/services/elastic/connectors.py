"""Elastic connectors: Conveyor jobs that carry Elastic's connector document.

A connector *is* a job: its id is the job's id (and name), so a run started through the
Elastic API is a run of that job everywhere else. The document's searchable fields are
columns of `elastic_connectors`, the rest one JSON document (see the model). Whether
Conveyor's workers or an external worker runs its sync jobs follows from `service_type`
(`wiring`). The `_update_*` operations are in `updates`.

What the facade calls answers `Connector` values; `visible` and `job_of` hand rows to
the other Elastic services.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlalchemy import or_, select

from conveyor.domain import ACTIVE_STATUSES, RunStatus, utcnow
from conveyor.errors import Conflict, InvalidInput, NotFound
from conveyor.queue.manager import CONVEYOR
from conveyor.services import audit, listing, workspaces
from conveyor.services.context import Context
from conveyor.services.elastic import wiring
from conveyor.services.elastic.documents import Connector, ConnectorStatus, iso, new_document
from conveyor.store.models import Connection, ElasticConnector, ElasticSyncJob, Job, Run, new_id

MAX_ID = 64
SEARCHED = (ElasticConnector.index_name, ElasticConnector.name, ElasticConnector.description)
"""The columns `?query=` looks in."""
COLUMNS = tuple(f.name for f in dataclasses.fields(Connector) if f.name not in ("id", "document"))
"""The connector's fields that are columns, named as Elastic names them."""


def visible(ctx: Context, connector_id: str, include_deleted: bool = False) -> ElasticConnector:
    """A visible connector's row (not soft-deleted unless asked), or 404."""
    row = ctx.session.get(ElasticConnector, connector_id)
    job = ctx.session.get(Job, connector_id) if row is not None else None
    if row is None or job is None or not ctx.principal.sees(job.workspace_id):
        raise NotFound(f"connector [{connector_id}] not found")
    if row.deleted and not include_deleted:
        raise NotFound(f"connector [{connector_id}] not found")
    return row


def job_of(ctx: Context, row: ElasticConnector) -> Job:
    """The job a connector is."""
    job = ctx.session.get(Job, row.job_id)
    assert job is not None  # the foreign key cascades
    return job


def check_index_name(ctx: Context, index_name: str | None, connector_id: str) -> None:
    """An index belongs to one (not deleted) connector."""
    if index_name is None:
        return
    clash = ctx.session.scalar(
        select(ElasticConnector.job_id).where(
            ElasticConnector.index_name == index_name,
            ElasticConnector.deleted.is_(False),
            ElasticConnector.job_id != connector_id,
        )
    )
    if clash is not None:
        raise InvalidInput(f"Index name [{index_name}] is used by another connector.")


MAX_ID = 64
"""A connector id is its job's id (`jobs.id`, 64 characters) and name."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_id(connector_id: str) -> None:
    """A new connector's id must fit its job: as a job's id and as a job's name."""
    if len(connector_id) > MAX_ID:
        raise InvalidInput(
            f"[connector_id] is longer than {MAX_ID} characters", field="connector_id"
        )
    if _CONTROL.search(connector_id):
        raise InvalidInput(
            "[connector_id] must not contain control characters", field="connector_id"
        )


def _new(ctx: Context, connector_id: str) -> ElasticConnector:
    """A connector and its job, unless the id or the name is a job's already."""
    _check_id(connector_id)
    if ctx.session.get(Job, connector_id) is not None:
        raise Conflict(f"[{connector_id}] is the id of a Conveyor job that is not a connector")
    workspace_id = workspaces.resolve(ctx, None)
    if ctx.session.scalar(
        select(Job.id).where(Job.workspace_id == workspace_id, Job.name == connector_id)
    ):
        raise Conflict(f"a job named {connector_id!r} already exists in this workspace")
    ctx.session.add(
        Job(
            id=connector_id,
            workspace_id=workspace_id,
            name=connector_id,
            type="standard",
            created_by=ctx.principal.user_id,
        )
    )
    ctx.session.flush()
    row = ElasticConnector(job_id=connector_id)
    ctx.session.add(row)
    return row


def put(
    ctx: Context,
    connector_id: str | None,
    *,
    index_name: str | None,
    name: str | None,
    description: str | None,
    service_type: str | None,
    is_native: bool,
    language: str | None,
) -> tuple[str, bool]:
    """Create a connector, or replace one with the same id (Elastic indexes the whole
    document anew): its id, and whether it was created. Its job and runs stay."""
    ctx.principal.require_write()
    connector_id = connector_id or new_id()
    if len(connector_id) > MAX_ID:
        raise InvalidInput(f"connector id is longer than {MAX_ID} characters")
    check_index_name(ctx, index_name, connector_id)
    row = ctx.session.get(ElasticConnector, connector_id)
    created = row is None
    if row is None:
        row = _new(ctx, connector_id)
    else:
        visible(ctx, connector_id, include_deleted=True)
    row.index_name, row.name, row.description = index_name, name or "", description
    row.service_type, row.is_native, row.language = service_type, is_native, language
    status = ConnectorStatus.needs_configuration if is_native else ConnectorStatus.created
    row.status, row.error, row.deleted, row.last_seen = status.value, None, False, None
    row.api_key_id = row.api_key_secret_id = None
    on_conveyor = wiring.spec_for(service_type) is not None
    row.document = new_document(
        wiring.configuration_schema() if on_conveyor else {}, wiring.DEFAULT_INTERVAL
    )
    ctx.session.flush()
    job = job_of(ctx, row)
    audit.note(row.job_id, job.workspace_id)
    wiring.wire(ctx, row, job)
    return row.job_id, created


def list_(
    ctx: Context,
    offset: int,
    size: int,
    *,
    index_names: list[str],
    names: list[str],
    service_types: list[str],
    query: str | None,
    include_deleted: bool,
) -> listing.Paged[Connector]:
    """A page of visible connectors, sorted by index name (none last), and the total."""
    statement = select(ElasticConnector).join(Job, Job.id == ElasticConnector.job_id)
    if ctx.principal.workspace_ids:
        statement = statement.where(Job.workspace_id.in_(ctx.principal.workspace_ids))
    if not include_deleted:
        statement = statement.where(ElasticConnector.deleted.is_(False))
    for column, values in (
        (ElasticConnector.index_name, index_names),
        (ElasticConnector.name, names),
        (ElasticConnector.service_type, service_types),
    ):
        if values:
            statement = statement.where(column.in_(values))
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(or_(*(c.like(pattern, escape="\\") for c in SEARCHED)))
    ordered = statement.order_by(
        ElasticConnector.index_name.is_(None),
        ElasticConnector.index_name,
        ElasticConnector.job_id,
    )
    found = listing.page(ctx.session, ordered, listing.ListParams(size, offset))
    return listing.Paged([view(ctx, row) for row in found.rows], found.total, size, offset)


def get(ctx: Context, connector_id: str, include_deleted: bool = False) -> Connector:
    """A visible connector (not soft-deleted unless asked), or 404."""
    return view(ctx, visible(ctx, connector_id, include_deleted))


def runs_of(ctx: Context, connector_id: str) -> list[Run]:
    """Every run Elastic counts as a sync job of the connector."""
    return list(
        ctx.session.scalars(
            select(Run)
            .outerjoin(ElasticSyncJob, ElasticSyncJob.run_id == Run.id)
            .where(or_(Run.job_id == connector_id, ElasticSyncJob.connector_id == connector_id))
        )
    )


def delete(ctx: Context, connector_id: str, hard: bool, delete_sync_jobs: bool) -> None:
    """Soft-delete (flag it, stop its schedule) or hard-delete (its job goes; its sync jobs
    stay as orphans unless `delete_sync_jobs`). Refused (409) while Conveyor runs it."""
    ctx.principal.require_write()
    row = visible(ctx, connector_id, include_deleted=hard)
    job = job_of(ctx, row)
    audit.note(row.job_id, job.workspace_id)
    runs = runs_of(ctx, connector_id)
    running = [
        r.id for r in runs if r.executor == CONVEYOR and RunStatus(r.status) in ACTIVE_STATUSES
    ]
    if running and (hard or delete_sync_jobs):
        raise Conflict(f"connector [{connector_id}] has an active sync job [{running[0]}]")
    if delete_sync_jobs:
        for run in runs:
            ctx.session.delete(run)
    elif hard:
        for run in runs:
            run.job_id = None
    ctx.session.flush()
    if not hard:
        row.deleted = True
        job.schedule_enabled = False
        return
    own = [f"elastic-{connector_id}-{role}" for role in wiring.ROLES]
    ctx.session.delete(row)
    ctx.session.delete(job)
    ctx.session.flush()
    for connection in ctx.session.scalars(
        select(Connection).where(
            Connection.workspace_id == job.workspace_id, Connection.name.in_(own)
        )
    ):
        ctx.session.delete(connection)


def check_in(ctx: Context, connector_id: str) -> None:
    """The connector service is alive."""
    ctx.principal.require_write()
    row = visible(ctx, connector_id)
    row.last_seen = utcnow()
    audit.note(row.job_id, job_of(ctx, row).workspace_id)


def _derived_sync_info(ctx: Context, row: ElasticConnector) -> dict[str, Any]:
    """For a Conveyor-run connector, its last sync as Conveyor's runs tell it."""
    run = ctx.session.scalars(
        select(Run)
        .outerjoin(ElasticSyncJob, ElasticSyncJob.run_id == Run.id)
        .where(Run.job_id == row.job_id)
        .where(or_(ElasticSyncJob.job_type.is_(None), ElasticSyncJob.job_type != "access_control"))
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(1)
    ).first()
    if run is None:
        return {}
    info: dict[str, Any] = {
        "last_sync_status": run.status,
        "last_sync_error": run.error,
        "last_indexed_document_count": run.rows_written,
        "last_deleted_document_count": run.rows_deleted,
    }
    if run.trigger_method == "scheduled":
        info["last_sync_scheduled_at"] = iso(run.scheduled_at)
    if run.status == RunStatus.completed.value:
        info["last_synced"] = iso(run.completed_at)
    return info


def view(ctx: Context, row: ElasticConnector) -> Connector:
    """The connector as Elastic shows it; a Conveyor-run one reports its runs' last sync."""
    document = dict(row.document)
    if wiring.runs_on_conveyor(row):
        document.update(_derived_sync_info(ctx, row))
    columns = {name: getattr(row, name) for name in COLUMNS}
    return Connector(id=row.job_id, document=document, **columns)
