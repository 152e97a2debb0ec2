"""What a change data capture job needs from the job service: its checks, and what it
owns on its source (one publication and one replication slot) released with it.

A job's slot and publication share one name, `cdc_engine_settings.name` or one derived
from the job id. Slot names are unique across a PostgreSQL server, publications across
a database: two jobs naming the same one on one server would read each other's changes
and drop each other's slot, so the second is refused (409) when it is saved.

Releasing a slot reaches the source: it is done with no store transaction open
(`outside`), and a source that cannot be reached refuses the deletion, naming the slot.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

from sqlalchemy import select

from conveyor.connectors.base import Readable, SqlExecutor, Writable, implements
from conveyor.connectors.registry import resolve
from conveyor.domain import CdcEngineSettings, EngineSettings, JobType
from conveyor.engine.cdc import lifecycle as cdc_lifecycle
from conveyor.engine.cdc.slot import names_for
from conveyor.engine.cdc.statements import CDC_SOURCES
from conveyor.errors import Conflict, InvalidInput, Unsupported
from conveyor.schemas.jobs import JobFields
from conveyor.services import connections, outside, tasks
from conveyor.services.context import Context
from conveyor.store.models import Connection, Job, Task

__all__ = ["check", "release", "release_if_moved"]


def check(ctx: Context, data: JobFields, job_id: str | None) -> None:
    """A change data capture job reads the log of a source that has one, into a
    destination that can merge (SQL, or files rewritten as for incremental jobs), under
    a slot name no other job uses on that server, and each of its tasks follows single
    rows."""
    supported = ", ".join(CDC_SOURCES.values())
    if data.source_connection_id is None:
        raise InvalidInput(
            f"a change data capture job needs a source connection ({supported})",
            field="source_connection_id",
        )
    source = connections.CONNECTIONS.referenced(
        ctx, data.source_connection_id, "source_connection_id", "source connection"
    )
    if resolve(source.url).name not in CDC_SOURCES:
        raise Unsupported(
            f"change data capture reads the log of {supported} sources only; the source "
            f"connection {source.name!r} is a {resolve(source.url).name} connection",
            field="source_connection_id",
        )
    if data.destination_connection_id is None:
        raise InvalidInput(
            "a change data capture job needs a destination connection",
            field="destination_connection_id",
        )
    destination = connections.CONNECTIONS.referenced(
        ctx, data.destination_connection_id, "destination_connection_id", "destination connection"
    )
    kind = cast(type, resolve(destination.url).load())
    if not implements(kind, SqlExecutor) and not (
        implements(kind, Readable) and implements(kind, Writable)
    ):
        raise Unsupported(
            "change data capture merges changes into its destination: the destination "
            f"connection {destination.name!r} can neither run SQL nor be read back",
            field="destination_connection_id",
        )
    _check_name(ctx, data.cdc_engine_settings, source, job_id)
    if job_id is not None:
        for task in ctx.session.scalars(select(Task).where(Task.job_id == job_id)):
            tasks.check_for_cdc(tasks.checked_statement(task.query), f"task {task.position}")


def _server(connection: Connection) -> tuple[str, int]:
    """The server a source connection reaches (its slot names are unique there)."""
    parts = urlsplit(connection.url)
    return (parts.hostname or "").lower(), parts.port or 0


def _check_name(
    ctx: Context, settings: CdcEngineSettings | None, source: Connection, job_id: str | None
) -> None:
    """409 when another CDC job on the same source server names the same slot."""
    name = settings.name if settings else None
    if not name:
        return  # derived from the job's own id: no other job has it
    others = ctx.session.execute(
        select(Job.id, Job.name, Job.settings, Connection)
        .join(Connection, Connection.id == Job.source_connection_id)
        .where(Job.type == JobType.change_data_capture.value)
    )
    for other_id, other_name, other_settings, connection in others:
        if other_id == job_id:
            continue
        theirs = EngineSettings.model_validate(other_settings).cdc_engine_settings
        if theirs is None or theirs.name != name:
            continue
        if connection.id == source.id or _server(connection) == _server(source):
            raise Conflict(
                f"cdc_engine_settings.name {name!r} is the replication slot and publication "
                f"of job {other_name!r} on the same source server: give this job another "
                "name (or none, to derive one from its id)",
                field="cdc_engine_settings",
            )


def release(ctx: Context, job: Job) -> None:
    """Drop a CDC job's slot and publication on its source (refused when unreachable),
    with no store transaction open: the unit is run again once it is done (`outside`)."""
    if job.type != JobType.change_data_capture.value or not job.source_connection_id:
        return
    source = connections.endpoint(ctx, connections.get(ctx, job.source_connection_id))
    settings = EngineSettings.model_validate(job.settings).cdc_engine_settings
    name = names_for(job.id, settings.name if settings else None)
    job_id = job.id

    def drop() -> None:
        cdc_lifecycle.release(source, job_id, settings)

    outside.require(ctx, f"release {name} of job {job_id} on {job.source_connection_id}", drop)


def release_if_moved(ctx: Context, job: Job, data: JobFields) -> None:
    """A CDC job that stops being one, or whose slot moves (another source, another
    name), releases its old slot: nobody would read it again, and it would hold the WAL."""
    if job.type != JobType.change_data_capture.value:
        return
    before = EngineSettings.model_validate(job.settings).cdc_engine_settings
    after = data.cdc_engine_settings
    if (
        data.type is not JobType.change_data_capture
        or data.source_connection_id != job.source_connection_id
        or (before.name if before else None) != (after.name if after else None)
    ):
        release(ctx, job)
