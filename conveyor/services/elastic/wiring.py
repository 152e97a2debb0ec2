"""How an Elastic connector becomes a job Conveyor's workers can run.

A connector whose `service_type` is one of Conveyor's connector schemes (`sqlite`,
`postgresql`, …) is executed by Conveyor, which then plays the part of Elastic's
connector service. Its configuration holds three keys, each `{"value": …}` as in every
Elastic connector configuration:

- `source`: a connection id or name, or a connection URL of that scheme;
- `destination`: a connection id or name, or a URL — where `index_name` is written;
- `source_table` (optional): the table read; default `index_name`.

A URL becomes a connection of its own (`elastic-<connector id>-source`), so its password
is sealed like any other and the document shows it as `***`. The job gets one task,
`REPLICATE [index_name]` (or `… SELECT * FROM [source_table]`), and Elastic's full or
incremental schedule becomes the job's cron. Any other service type is self-managed: the
job has no connections and no tasks, and its runs wait for an external worker.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from conveyor.connectors.base import Capability
from conveyor.connectors.registry import ConnectorSpec, resolve, specs
from conveyor.domain import utcnow
from conveyor.errors import InvalidInput, NotFound
from conveyor.scheduler.cron import effective_since
from conveyor.schemas.connections import ConnectionCreate, ConnectionUpdate
from conveyor.services import connections, idle, tasks
from conveyor.services.context import Context
from conveyor.store.models import Connection, ElasticConnector, Job

ROLES = ("source", "destination")
DEFAULT_INTERVAL = "0 0 0 * * ?"


def spec_for(service_type: str | None) -> ConnectorSpec | None:
    """Conveyor's connector for a service type, or None when the connector is self-managed."""
    if not service_type:
        return None
    return next((spec for spec in specs() if service_type.lower() in spec.schemes), None)


def runs_on_conveyor(connector: ElasticConnector) -> bool:
    """Whether Conveyor's workers execute the connector's sync jobs."""
    return spec_for(connector.service_type) is not None


def _field(order: int, label: str, tooltip: str, required: bool, sensitive: bool) -> dict[str, Any]:
    return {
        "default_value": None,
        "depends_on": [],
        "display": "textbox",
        "label": label,
        "options": [],
        "order": order,
        "placeholder": "",
        "required": required,
        "sensitive": sensitive,
        "tooltip": tooltip,
        "type": "str",
        "ui_restrictions": [],
        "validations": [],
        "value": "",
    }


def configuration_schema() -> dict[str, dict[str, Any]]:
    """The configuration a Conveyor-run connector starts with (values to be filled in)."""
    return {
        "source": _field(
            1, "Source", "A Conveyor connection id or name, or a connection URL.", True, True
        ),
        "destination": _field(
            2, "Destination", "Where index_name is written: a connection or a URL.", True, True
        ),
        "source_table": _field(
            3, "Source table", "The table read; default: the index name.", False, False
        ),
    }


def value_of(configuration: dict[str, Any], key: str) -> str | None:
    """A configuration entry's value, None when unset or blank."""
    entry = configuration.get(key)
    value = entry.get("value") if isinstance(entry, dict) else None
    return str(value).strip() if value not in (None, "") and str(value).strip() else None


def missing(connector: ElasticConnector) -> list[str]:
    """What a Conveyor-run connector still lacks to sync."""
    configuration = connector.document.get("configuration") or {}
    lacking = [f"configuration.{role}" for role in ROLES if value_of(configuration, role) is None]
    return (["index_name"] if not connector.index_name else []) + lacking


def quartz_to_cron(expression: str) -> str | None:
    """A Quartz cron (seconds first, `?`, Sunday = 1) as a 5-field cron, or None when it
    has no equivalent (seconds other than 0, L, W, #, years)."""
    parts = expression.split()
    if (
        len(parts) not in (6, 7)
        or parts[0] not in ("0", "*")
        or (len(parts) == 7 and parts[6] != "*")
    ):
        return None
    minute, hour, day, month, weekday = parts[1:6]
    if any(mark in part for part in parts[1:6] for mark in ("L", "W", "#")):
        return None
    weekday = re.sub(r"\d+", lambda m: str((int(m.group()) - 1) % 7), weekday)
    cron = " ".join(p.replace("?", "*") for p in (minute, hour, day, month, weekday))
    from croniter import croniter

    return cron if croniter.is_valid(cron) else None


def _connection(ctx: Context, job: Job, role: str, value: str) -> tuple[Connection, str]:
    """The connection a configuration value names (creating or updating the connector's
    own for a URL), and the value as the document shows it (password masked)."""
    if "://" not in value:
        try:
            found = connections.find(ctx, value, job.workspace_id)
        except NotFound:
            raise InvalidInput(
                f"configuration.{role}: no connection {value!r}", field=role
            ) from None
        return found, value
    name = f"elastic-{job.id}-{role}"
    own = ctx.session.scalars(
        select(Connection).where(
            Connection.workspace_id == job.workspace_id, Connection.name == name
        )
    ).first()
    try:
        if own is None:
            own = connections.create(
                ctx, ConnectionCreate(name=name, url=value, workspace_id=job.workspace_id)
            )
        elif connections.to_out(ctx, own).url != value:
            own = connections.update(ctx, own.id, ConnectionUpdate(url=value))
    except ValidationError as exc:  # a malformed URL in the configuration: the caller's error
        raise InvalidInput(f"configuration.{role}: {exc.errors()[0]['msg']}", field=role) from None
    return own, connections.to_out(ctx, own).url


def _bracketed(name: str, field: str) -> str:
    """A table name as a REPLICATE identifier (brackets; a `]` inside cannot be quoted)."""
    if "]" in name:
        raise InvalidInput(f"{field} cannot contain ']'", field=field)
    return f"[{name}]"


def _replicate(connector: ElasticConnector, source_table: str | None) -> str:
    target = _bracketed(connector.index_name or "", "index_name")
    if source_table and source_table != connector.index_name:
        return " ".join(
            ("REPLICATE", target, "SELECT * FROM", _bracketed(source_table, "source_table"))
        )
    return f"REPLICATE {target}"


def wire(ctx: Context, connector: ElasticConnector, job: Job) -> None:
    """Make the job run what the connector describes; 409 while one of its runs is active."""
    spec = spec_for(connector.service_type)
    configuration = dict(connector.document.get("configuration") or {})
    wanted: dict[str, str | None] = {role: None for role in ROLES}
    if spec is not None:
        for role, needed in zip(ROLES, (Capability.read, Capability.write), strict=True):
            value = value_of(configuration, role)
            if value is None:
                continue
            connection, shown = _connection(ctx, job, role, value)
            connector_of = resolve(connection.url)
            if role == "source" and connector_of.name != spec.name:
                raise InvalidInput(
                    f"configuration.source is a {connection.scheme} connection, but the "
                    f"service_type is {connector.service_type!r}",
                    field="service_type",
                )
            if needed not in connector_of.capabilities:
                raise InvalidInput(f"configuration.{role} cannot {needed.value}", field=role)
            wanted[role] = connection.id
            if shown != value:
                configuration[role] = {**configuration[role], "value": shown}
        connector.document = {**connector.document, "configuration": configuration}
    source_table = value_of(configuration, "source_table")
    query = _replicate(connector, source_table) if spec and connector.index_name else None
    current = tasks.ordered(ctx, job)
    changed = (
        wanted["source"] != job.source_connection_id
        or wanted["destination"] != job.destination_connection_id
        or [t.query for t in current] != ([query] if query else [])
    )
    if changed:
        idle.ensure_idle(ctx, job, "reconfigure")
        job.source_connection_id = wanted["source"]
        job.destination_connection_id = wanted["destination"]
        if [t.query for t in current] != ([query] if query else []):
            for task in current:
                ctx.session.delete(task)
            ctx.session.flush()
            if query:
                tasks.add(ctx, job, query, is_active=True, index=None, field="index_name")
    _schedule(connector, job, spec is not None)


def _schedule(connector: ElasticConnector, job: Job, on_conveyor: bool) -> None:
    """Elastic's incremental (else full) schedule as the job's cron, when it has one."""
    scheduling = connector.document.get("scheduling") or {}
    cron = None
    for kind in ("incremental", "full"):
        entry = scheduling.get(kind) or {}
        if on_conveyor and entry.get("enabled"):
            cron = quartz_to_cron(str(entry.get("interval", "")))
            if cron:
                break
    before = (bool(job.schedule_enabled), job.schedule_cron or "")
    job.schedule_enabled, job.schedule_cron = cron is not None, cron or ""
    job.schedule_since = effective_since(
        job.schedule_since, before, (job.schedule_enabled, job.schedule_cron), utcnow()
    )
