"""Connections: where data comes from and goes to, with their secrets sealed.

A password in the URL and every secret option are encrypted before they reach the
store and shown as `***` ever after; only the engine, about to open the connection,
sees them in clear.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select

from conveyor.connectors.base import Discoverable, TableRef
from conveyor.connectors.registry import ConnectorSpec, open_connector, resolve, scheme_of
from conveyor.crypto import (
    MASK,
    REDACTOR,
    is_secret_option,
    masked_form,
    split_password,
    with_password,
)
from conveyor.domain import utcnow
from conveyor.engine.spec import Endpoint
from conveyor.errors import Conflict, ConveyorError, InvalidInput, NotFound
from conveyor.schemas.connections import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionTestResult,
    ConnectionUpdate,
)
from conveyor.services import audit, listing, workspaces
from conveyor.services.context import Context
from conveyor.store.models import Connection, Job

FIELDS = {
    "id": Connection.id,
    "name": Connection.name,
    "scheme": Connection.scheme,
    "workspace_id": Connection.workspace_id,
    "created_at": Connection.created_at,
    "updated_at": Connection.updated_at,
    "last_test_ok": Connection.last_test_ok,
}


def get(ctx: Context, connection_id: str) -> Connection:
    """A visible connection, or 404."""
    connection = ctx.session.get(Connection, connection_id)
    if connection is None or not ctx.principal.sees(connection.workspace_id):
        raise NotFound(f"connection {connection_id} not found")
    return connection


def find(ctx: Context, key: str, workspace_id: str | None = None) -> Connection:
    """A visible connection by id or, failing that, by name (unique per workspace);
    with `workspace_id`, only a connection of that workspace."""
    connection = ctx.session.get(Connection, key)
    if connection is not None and workspace_id is not None:
        connection = connection if connection.workspace_id == workspace_id else None
    if connection is None:
        statement = select(Connection).where(Connection.name == key)
        if workspace_id is not None:
            statement = statement.where(Connection.workspace_id == workspace_id)
        if ctx.principal.workspace_ids:
            statement = statement.where(Connection.workspace_id.in_(ctx.principal.workspace_ids))
        connection = ctx.session.scalars(statement.order_by(Connection.created_at)).first()
    if connection is None or not ctx.principal.sees(connection.workspace_id):
        raise NotFound(f"connection {key} not found")
    return connection


def list_(ctx: Context, query: Mapping[str, str]) -> listing.Paged[Connection]:
    """Visible connections."""
    params = listing.ListParams.parse(query)
    statement = select(Connection)
    if ctx.principal.workspace_ids:
        statement = statement.where(Connection.workspace_id.in_(ctx.principal.workspace_ids))
    return listing.page(ctx.session, listing.apply(statement, params, FIELDS, ("name",)), params)


def _seal(
    ctx: Context, spec: ConnectorSpec, url: str, options: dict[str, Any]
) -> tuple[str, dict[str, Any], str | None]:
    """Split URL and options into what may be shown and what is sealed."""
    spec.validate_options(options)
    bare, password = split_password(url)
    secrets = {k: v for k, v in options.items() if is_secret_option(k) or k in spec.secret_options}
    plain = {k: v for k, v in options.items() if k not in secrets}
    if password is not None:
        secrets["__password__"] = password
    REDACTOR.add(*[str(v) for v in secrets.values() if v])
    return bare, plain, ctx.box.seal(secrets)


def _unique_name(ctx: Context, workspace_id: str, name: str, exclude: str | None = None) -> None:
    clash = ctx.session.scalar(
        select(Connection.id).where(
            Connection.workspace_id == workspace_id, Connection.name == name
        )
    )
    if clash is not None and clash != exclude:
        raise Conflict(f"a connection named {name!r} already exists in this workspace")


def create(ctx: Context, data: ConnectionCreate) -> Connection:
    """Store a new connection, its secrets sealed."""
    ctx.principal.require_write()
    workspace_id = workspaces.resolve(ctx, data.workspace_id)
    spec = resolve(data.url)
    _unique_name(ctx, workspace_id, data.name)
    url, options, sealed = _seal(ctx, spec, data.url, data.options)
    connection = Connection(
        workspace_id=workspace_id,
        name=data.name,
        scheme=scheme_of(data.url),
        url=url,
        options=options,
        sealed_secrets=sealed,
        max_concurrent_runs=data.max_concurrent_runs,
    )
    ctx.session.add(connection)
    ctx.session.flush()
    audit.note(connection.id, connection.workspace_id)
    return connection


def update(ctx: Context, connection_id: str, data: ConnectionUpdate) -> Connection:
    """Change a connection; a `***` password or option keeps the stored secret."""
    ctx.principal.require_write()
    connection = get(ctx, connection_id)
    if data.name is not None:
        _unique_name(ctx, connection.workspace_id, data.name, connection.id)
        connection.name = data.name
    if data.max_concurrent_runs is not None:
        connection.max_concurrent_runs = data.max_concurrent_runs or None
    if data.url is not None or data.options is not None:
        stored = ctx.box.open(connection.sealed_secrets)
        url = data.url if data.url is not None else plain_url(ctx, connection)
        bare, password = split_password(url)
        if password == MASK:
            url = with_password(bare, stored.get("__password__"))
        options = (
            dict(data.options)
            if data.options is not None
            else {**connection.options, **_secret_options(stored)}
        )
        for key, value in list(options.items()):
            if value == MASK:
                if key not in stored:
                    raise InvalidInput(
                        f"option {key!r} has no stored value to keep", field=f"options.{key}"
                    )
                options[key] = stored[key]
        spec = resolve(url)
        connection.url, connection.options, connection.sealed_secrets = _seal(
            ctx, spec, url, options
        )
        connection.scheme = scheme_of(url)
        connection.last_test_ok = connection.last_tested_at = connection.last_test_error = None
    ctx.session.flush()
    audit.note(connection.id, connection.workspace_id)
    return connection


def delete(ctx: Context, connection_id: str) -> None:
    """Delete a connection no job uses; one in use answers 409 naming the jobs."""
    ctx.principal.require_write()
    connection = get(ctx, connection_id)
    users = ctx.session.scalars(
        select(Job.name).where(
            or_(
                Job.source_connection_id == connection.id,
                Job.destination_connection_id == connection.id,
            )
        )
    ).all()
    if users:
        raise Conflict(f"connection {connection.name!r} is used by jobs: {', '.join(users)}")
    audit.note(connection.id, connection.workspace_id)
    ctx.session.delete(connection)


def _secret_options(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k != "__password__"}


def plain_url(ctx: Context, connection: Connection) -> str:
    """The connection's URL with its password, for opening it."""
    return with_password(
        connection.url, ctx.box.open(connection.sealed_secrets).get("__password__")
    )


def endpoint(ctx: Context, connection: Connection) -> Endpoint:
    """What the engine needs to open the connection (secrets in clear)."""
    stored = ctx.box.open(connection.sealed_secrets)
    url = with_password(connection.url, stored.get("__password__"))
    return Endpoint(
        url=url, options={**connection.options, **_secret_options(stored)}, name=connection.name
    )


def to_out(ctx: Context, connection: Connection) -> ConnectionOut:
    """The connection as shown: secrets masked."""
    stored = ctx.box.open(connection.sealed_secrets)
    url = masked_form(connection.url) if "__password__" in stored else connection.url
    options = {**connection.options, **{k: MASK for k in _secret_options(stored)}}
    try:
        capabilities = sorted(c.value for c in resolve(connection.url).capabilities)
    except ConveyorError:
        capabilities = []
    return ConnectionOut(
        id=connection.id,
        workspace_id=connection.workspace_id,
        name=connection.name,
        scheme=connection.scheme,
        url=url,
        options=options,
        capabilities=capabilities,
        max_concurrent_runs=connection.max_concurrent_runs,
        last_tested_at=connection.last_tested_at,
        last_test_ok=connection.last_test_ok,
        last_test_error=connection.last_test_error,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def test(ctx: Context, connection_id: str) -> ConnectionTestResult:
    """Try to reach the connection; remember the outcome."""
    connection = get(ctx, connection_id)
    target = endpoint(ctx, connection)
    started = time.monotonic()
    error: str | None = None
    try:
        connector = open_connector(target.url, target.options)
        try:
            connector.test()
        finally:
            connector.close()
    except ConveyorError as exc:
        error = REDACTOR.redact(exc.message)
    except Exception as exc:  # a driver's own exception: report it, do not crash the request
        error = REDACTOR.redact(f"{type(exc).__name__}: {exc}")
    connection.last_tested_at = utcnow()
    connection.last_test_ok = error is None
    connection.last_test_error = error
    audit.note(connection.id, connection.workspace_id)
    return ConnectionTestResult(
        ok=error is None, error=error, duration_ms=(time.monotonic() - started) * 1000
    )


def _discoverable(ctx: Context, connection: Connection) -> tuple[Any, Discoverable]:
    target = endpoint(ctx, connection)
    connector = open_connector(target.url, target.options)
    if not isinstance(connector, Discoverable):
        connector.close()
        raise InvalidInput(f"connection {connection.name!r} cannot list its tables")
    return connector, connector


def tables(ctx: Context, connection_id: str) -> list[dict[str, Any]]:
    """The tables (or files) the connection holds."""
    connector, discoverable = _discoverable(ctx, get(ctx, connection_id))
    try:
        return [t.as_dict() for t in discoverable.list_tables()]
    finally:
        connector.close()


def columns(
    ctx: Context, connection_id: str, table: str, schema: str | None = None
) -> list[dict[str, Any]]:
    """The columns of one table (in `schema` where the system has schemas)."""
    connector, discoverable = _discoverable(ctx, get(ctx, connection_id))
    try:
        return [c.as_dict() for c in discoverable.columns(TableRef(table, schema or None))]
    finally:
        connector.close()
