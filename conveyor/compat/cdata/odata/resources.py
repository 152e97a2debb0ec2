"""CData v1 entity sets, part two: connections and transformations.

Connections translate CData's `ProviderName` + `ConnectionString` (see `cdata.connections`);
transformations their trigger modes (`None`, `Scheduled`, `AfterJob`), the job they
follow by name and its tasks by table, and `Query#n`. Users are in `users`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from conveyor.compat.cdata.bodies import Fields, canonical, model, to_bool, to_int, to_text
from conveyor.compat.cdata.connections import provider_name, shown, to_url
from conveyor.compat.cdata.jobs import split_list
from conveyor.compat.cdata.odata.entities import EntitySet, Key, Row, can_write, listed
from conveyor.compat.cdata.runs import run_status
from conveyor.errors import InvalidInput
from conveyor.schemas.connections import ConnectionCreate, ConnectionOut, ConnectionUpdate
from conveyor.schemas.transformations import TransformationCreate, TransformationOut, TriggerMode
from conveyor.services import connections, jobs, tasks, transformations, workspaces
from conveyor.services.context import Context

# --- connections -------------------------------------------------------------------------


CONNECTION_NAMES = {"name": "Name", "url": "ConnectionString", "options": "ConnectionString"}
"""Connection fields: native → CData."""
CONNECTION_PROPERTIES = (
    *("Id", "Name", "ProviderName", "ProviderClass", "ConnectionString"),
    *("ConnectionState", "LastTested", "LastTestError", "CreationTime", "LastModified"),
    *("WorkspaceId", "CanUpdate", "CanRemove"),
)
CONNECTION_FILTERS = {"Name": "name", "Id": "id"}
"""Properties whose `$filter` equalities the service applies: CData → native."""


def connection_row(ctx: Context, out: ConnectionOut) -> Row:
    """A connection as CData's ConnectionInfo; its secrets masked."""
    state = {None: "Untested", True: "Connected", False: "Failed"}[out.last_test_ok]
    return {
        "Id": out.id,
        "Name": out.name,
        "ProviderName": provider_name(out.scheme),
        "ProviderClass": out.scheme,
        "ConnectionString": shown(out),
        "ConnectionState": state,
        "LastTested": out.last_tested_at,
        "LastTestError": out.last_test_error,
        "CreationTime": out.created_at,
        "LastModified": out.updated_at,
        "WorkspaceId": out.workspace_id,
        "CanUpdate": can_write(ctx),
        "CanRemove": can_write(ctx),
    }


def _connection_key(key: Key | None, fields: Fields) -> str:
    value = (key.get("Name", "Id") if key else None) or to_text(fields.get("Name", "Id"))
    if not value:
        raise InvalidInput("a connection key is its Name or Id", field="Name")
    return value


def _create_connection(ctx: Context, fields: Fields, workspace_id: str | None) -> Row:
    name = to_text(fields.get("Name"))
    url, options = to_url(fields.get("ProviderName"), to_text(fields.get("ConnectionString")))
    fields.get("Verbosity")  # connections log at their job's verbosity here
    fields.refuse_unknown()
    data = model(
        ConnectionCreate,
        CONNECTION_NAMES,
        name=name,
        url=url,
        options=options,
        workspace_id=workspace_id,
    )
    return connection_row(ctx, connections.to_out(ctx, connections.create(ctx, data)))


def _update_connection(
    ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None
) -> Row:
    connection = connections.to_out(
        ctx, connections.find(ctx, _connection_key(key, fields), workspace_id)
    )
    rename = to_text(fields.get("Name")) if key else None
    url = options = None
    if (text := fields.get("ConnectionString")) not in (None, ""):
        provider = fields.get("ProviderName") or connection.scheme
        url, options = to_url(provider, to_text(text))
    fields.get("ProviderName", "Verbosity", "Id")
    fields.refuse_unknown()
    data = model(
        ConnectionUpdate,
        CONNECTION_NAMES,
        name=rename if rename and rename != connection.name else None,
        url=url,
        options=options,
    )
    return connection_row(
        ctx, connections.to_out(ctx, connections.update(ctx, connection.id, data))
    )


CONNECTIONS = EntitySet(
    name="connections",
    properties=CONNECTION_PROPERTIES,
    key=("Name",),
    rows=lambda ctx, ws, options: [
        connection_row(ctx, connections.to_out(ctx, c))
        for c in listed(lambda q: connections.list_(ctx, q), CONNECTION_FILTERS, options, ws)
    ],
    get=lambda ctx, key, ws: connection_row(
        ctx, connections.to_out(ctx, connections.find(ctx, _connection_key(key, Fields({})), ws))
    ),
    create=_create_connection,
    update=_update_connection,
    delete=lambda ctx, key, fields, ws: connections.delete(
        ctx, connections.ref(ctx, _connection_key(key, fields), ws).id
    ),
)

# --- transformations ---------------------------------------------------------------------

TRIGGER_MODES = {"none": "manual", "manual": "manual", "scheduled": "scheduled"}
TRIGGER_MODES |= {"schedule": "scheduled", "afterjob": "after_job", "jobcompletion": "after_job"}
TRIGGER_NAMES = {"manual": "None", "scheduled": "Scheduled", "after_job": "AfterJob"}
DBT_FIELDS = ("ProjectPath", "DBTSchema", "Threads", "ProjectType", "GitRepositoryURL", "GitToken")
TRANSFORMATION_PROPERTIES = (
    *("TransformationId", "TransformationName", "Connection", "ConnectionId"),
    *("TransformationTriggerMode", "TriggerAfterJob", "TriggerAfterJobId", "TriggerTasks"),
    *("ScheduledCron", "SendEmailNotification", "NotifyEmailTo", "NotifyEmailSubject"),
    *("EmailErrorOnly", "Verbosity", "CommandTimeout", "AutomaticJobRetry", "Type"),
    *("Queries", "Status", "LastRunId", "WorkspaceId", "CreationTime", "LastModified"),
    *("CanUpdate", "CanRemove", "CanExecute"),
)
TRANSFORMATION_FILTERS = {"TransformationName": "name", "TransformationId": "id"}
"""Properties whose `$filter` equalities the service applies: CData → native."""


def transformation_row(ctx: Context, out: TransformationOut) -> Row:
    """A transformation as CData's TransformationInfo."""
    after = jobs.ref(ctx, out.trigger_after_job_id) if out.trigger_after_job_id else None
    return {
        "TransformationId": out.id,
        "TransformationName": out.name,
        "Connection": connections.ref(ctx, out.connection_id).name,
        "ConnectionId": out.connection_id,
        "TransformationTriggerMode": TRIGGER_NAMES[out.trigger_mode.value],
        "TriggerAfterJob": after.name if after else None,
        "TriggerAfterJobId": out.trigger_after_job_id,
        "TriggerTasks": ",".join(out.trigger_tasks),
        "ScheduledCron": out.schedule_cron,
        "SendEmailNotification": out.send_email,
        "NotifyEmailTo": ",".join(out.email_to),
        "NotifyEmailSubject": out.email_subject,
        "EmailErrorOnly": out.email_error_only,
        "Verbosity": out.verbosity,
        "CommandTimeout": out.command_timeout,
        "AutomaticJobRetry": out.max_attempts > 1,
        "Type": "SQL",
        "Queries": list(out.queries),
        "Status": run_status(out.status),
        "LastRunId": out.last_run_id,
        "WorkspaceId": out.workspace_id,
        "CreationTime": out.created_at,
        "LastModified": out.updated_at,
        "CanUpdate": can_write(ctx),
        "CanRemove": can_write(ctx),
        "CanExecute": can_write(ctx),
    }


def _transformation_changes(ctx: Context, fields: Fields, workspace_id: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if (name := fields.get("TransformationName", "Name")) is not None:
        changes["name"] = to_text(name)
    if (connection := fields.get("Connection", "ConnectionId")) not in (None, ""):
        changes["connection_id"] = connections.ref(ctx, to_text(connection), workspace_id).id
    if (mode := fields.get("TransformationTriggerMode")) not in (None, ""):
        if canonical(to_text(mode)) not in TRIGGER_MODES:
            raise InvalidInput(
                f"TransformationTriggerMode: unknown mode {mode!r}; use None, Scheduled, AfterJob",
                field="TransformationTriggerMode",
            )
        changes["trigger_mode"] = TRIGGER_MODES[canonical(to_text(mode))]
    if (job := fields.get("TriggerAfterJob", "TriggerAfterJobId")) not in (None, ""):
        trigger_job = jobs.ref(ctx, to_text(job), workspace_id)
        changes["trigger_after_job_id"] = trigger_job.id
        if (names := fields.get("TriggerTasks")) is not None:
            found = [tasks.to_out(t) for t in tasks.list_(ctx, trigger_job.id)]
            by_name = {t.table.lower(): t.id for t in found}
            changes["trigger_tasks"] = [by_name.get(n.lower(), n) for n in split_list(names)]
    if (cron := fields.get("ScheduledCron")) is not None:
        changes["schedule_cron"] = to_text(cron)  # "" clears it, as a job's does
    for native, cdata, convert in (
        ("send_email", "SendEmailNotification", to_bool),
        ("email_to", "NotifyEmailTo", lambda v, _f: split_list(v)),
        ("email_subject", "NotifyEmailSubject", lambda v, _f: to_text(v)),
        ("email_error_only", "EmailErrorOnly", to_bool),
        ("verbosity", "Verbosity", to_int),
        ("command_timeout", "CommandTimeout", to_int),
    ):
        if (value := fields.get(cdata)) not in (None, ""):
            changes[native] = convert(value, cdata)
    if (retry := fields.get("AutomaticJobRetry")) not in (None, ""):
        changes["max_attempts"] = 3 if to_bool(retry, "AutomaticJobRetry") else 1
    if queries := (fields.get("Queries") or fields.numbered("Query")):
        changes["queries"] = [queries] if isinstance(queries, str) else list(queries)
    kind = fields.get("Type")
    if kind not in (None, "") and canonical(to_text(kind)) != "sql":
        raise InvalidInput(
            f"Type: only SQL transformations are supported, not {kind!r}", field="Type"
        )
    for name in DBT_FIELDS:
        if fields.get(name) not in (None, ""):
            raise InvalidInput(f"{name}: dbt transformations are not supported", field=name)
    fields.refuse_unknown("WorkspaceId", "TransformationId")
    return changes


def _create_transformation(ctx: Context, fields: Fields, workspace_id: str | None) -> Row:
    workspace = workspaces.resolve(ctx, workspace_id)
    changes = _transformation_changes(ctx, fields, workspace)
    try:
        data = TransformationCreate.model_validate({**changes, "workspace_id": workspace})
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from exc
    return transformation_row(ctx, transformations.to_out(ctx, transformations.create(ctx, data)))


def _transformation_key(key: Key | None, fields: Fields) -> str:
    value = (key.get("TransformationName", "TransformationId") if key else None) or to_text(
        fields.get("TransformationId", "TransformationName")
    )
    if not value:
        raise InvalidInput("a transformation key is its name or id", field="TransformationName")
    return value


def _update_transformation(
    ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None
) -> Row:
    item = transformations.ref(ctx, _transformation_key(key, fields), workspace_id)
    changes = _transformation_changes(ctx, fields, item.workspace_id)
    cleared = changes.get("schedule_cron") == "" and "trigger_mode" not in changes
    if cleared and transformations.get(ctx, item.id).trigger_mode == TriggerMode.scheduled:
        changes["trigger_mode"] = TriggerMode.manual.value  # no schedule: run on demand
    updated = transformations.update(ctx, item.id, changes)
    return transformation_row(ctx, transformations.to_out(ctx, updated))


TRANSFORMATIONS = EntitySet(
    name="transformations",
    properties=TRANSFORMATION_PROPERTIES,
    key=("TransformationName",),
    rows=lambda ctx, ws, options: [
        transformation_row(ctx, transformations.to_out(ctx, t))
        for t in listed(
            lambda q: transformations.list_(ctx, q), TRANSFORMATION_FILTERS, options, ws
        )
    ],
    get=lambda ctx, key, ws: transformation_row(
        ctx,
        transformations.to_out(
            ctx, transformations.get(ctx, _transformation_key(key, Fields({})), ws)
        ),
    ),
    create=_create_transformation,
    update=_update_transformation,
    delete=lambda ctx, key, fields, ws: transformations.delete(
        ctx, transformations.ref(ctx, _transformation_key(key, fields), ws).id
    ),
)
