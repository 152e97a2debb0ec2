"""Connections: where data comes from and goes to, with their secrets sealed.

A password in the URL (`user:password@` or `?password=`), every secret-named query
parameter and every secret option are encrypted before they reach the store and shown
as `***` ever after (`connection_secrets`); only the engine, about to open the
connection, sees them in clear. What a connection's driver says (a test's error, a
listing's failure) is masked with that connection's own secrets — never with another's.

Testing a connection and listing its tables or columns reach the connection's own system,
which may take as long as its timeouts allow; no store transaction is open meanwhile, so
no other request waits on them. They take the runtime (`Units`) and the caller, and work
in three steps: a short read unit loads the connection as a `Target` (visibility, role and
the policy's `Reach` checked there, once), the I/O runs with no transaction open, and a
short write unit records a test's outcome — unless the connection was deleted or pointed
elsewhere meanwhile, in which case nothing is recorded.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from conveyor.connectors.base import Discoverable, Readable, TableRef
from conveyor.connectors.registry import open_connector, resolve, scheme_of
from conveyor.crypto import Redactor
from conveyor.domain import Role, utcnow
from conveyor.engine.access import Access, check_access
from conveyor.engine.cdc.readiness import log_problem
from conveyor.engine.cdc.statements import CDC_SOURCES
from conveyor.engine.spec import Endpoint
from conveyor.errors import (
    Conflict,
    ConnectorError,
    ConveyorError,
    InvalidInput,
    PermissionDenied,
)
from conveyor.logging import redacting
from conveyor.schemas.connections import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionTestResult,
    ConnectionUpdate,
)
from conveyor.services import audit, connection_tls, lookup, reach, row_models, workspaces
from conveyor.services import connection_secrets as secrets
from conveyor.services.context import Context, Principal, Units
from conveyor.store.models import Connection, Job

log = logging.getLogger(__name__)
FIELDS = {
    "id": Connection.id,
    "name": Connection.name,
    "scheme": Connection.scheme,
    "workspace_id": Connection.workspace_id,
    "created_at": Connection.created_at,
    "updated_at": Connection.updated_at,
    "last_test_ok": Connection.last_test_ok,
}


CONNECTIONS = lookup.Resource(Connection, "connection", FIELDS)
get, find, ref, list_ = CONNECTIONS.get, CONNECTIONS.find, CONNECTIONS.ref, CONNECTIONS.list_


def _unique_name(ctx: Context, workspace_id: str, name: str, exclude: str | None = None) -> None:
    clash = ctx.session.scalar(
        select(Connection.id).where(
            Connection.workspace_id == workspace_id, Connection.name == name
        )
    )
    if clash is not None and clash != exclude:
        raise Conflict(f"a connection named {name!r} already exists in this workspace")


def _require_admin_for_external_access() -> PermissionDenied:
    return PermissionDenied(
        "only admins may set allow_external_access or change a connection that has it",
        field="allow_external_access",
    )


def create(ctx: Context, data: ConnectionCreate) -> Connection:
    """Store a new connection, its secrets sealed, once the policy allows what it reaches."""
    ctx.principal.require_write()
    workspace_id = workspaces.resolve(ctx, data.workspace_id)
    spec = resolve(data.url)
    admin = ctx.principal.role is Role.admin
    if data.allow_external_access and not admin:
        raise _require_admin_for_external_access()
    _unique_name(ctx, workspace_id, data.name)
    reach.check_target(
        ctx,
        *connection_tls.apply(ctx, data.url, data.options, workspace_id),
        reach.for_caller(ctx, workspace_id, external_access=data.allow_external_access),
    )
    url, options, sealed = secrets.seal(ctx, spec, data.url, data.options)
    connection = Connection(
        workspace_id=workspace_id,
        name=data.name,
        scheme=scheme_of(data.url),
        url=url,
        options=options,
        sealed_secrets=sealed,
        max_concurrent_runs=data.max_concurrent_runs,
        admin_configured=admin,
        allow_external_access=data.allow_external_access,
    )
    ctx.session.add(connection)
    ctx.session.flush()
    audit.note(connection.id, connection.workspace_id)
    return connection


def update(ctx: Context, connection_id: str, data: ConnectionUpdate) -> Connection:
    """Change a connection; a `***` password or option keeps the stored secret.

    A new URL or options are checked against the caller's reach, and the connection then
    reaches what its last configurer may: an admin's edit makes it admin-configured, anyone
    else's makes it an ordinary one. Only admins touch one with `allow_external_access`.
    """
    ctx.principal.require_write()
    connection = get(ctx, connection_id)
    admin = ctx.principal.role is Role.admin
    retargeted = data.url is not None or data.options is not None
    if not admin and (
        data.allow_external_access is not None or (retargeted and connection.allow_external_access)
    ):
        raise _require_admin_for_external_access()
    if data.allow_external_access is not None:
        connection.allow_external_access = data.allow_external_access
    if data.name is not None:
        _unique_name(ctx, connection.workspace_id, data.name, connection.id)
        connection.name = data.name
    if data.max_concurrent_runs is not None:
        connection.max_concurrent_runs = data.max_concurrent_runs or None
    if data.url is not None or data.options is not None:
        url, options = secrets.with_stored(ctx, connection, data.url, data.options)
        spec = resolve(url)
        reach.check_target(
            ctx,
            *connection_tls.apply(ctx, url, options, connection.workspace_id),
            reach.for_caller(
                ctx, connection.workspace_id, external_access=connection.allow_external_access
            ),
        )
        connection.url, connection.options, connection.sealed_secrets = secrets.seal(
            ctx, spec, url, options
        )
        connection.scheme = scheme_of(url)
        connection.admin_configured = admin
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


def endpoint(ctx: Context, connection: Connection) -> Endpoint:
    """What the engine needs to open the connection (secrets in clear)."""
    url, options = secrets.in_clear(ctx, connection)
    url, options = connection_tls.apply(ctx, url, options, connection.workspace_id)
    return Endpoint(
        url=url, options=options, name=connection.name, reach=reach.for_connection(ctx, connection)
    )


def to_out(ctx: Context, connection: Connection) -> ConnectionOut:
    """The connection as shown: secrets masked (`user:***@`, `password=***`, options `***`)."""
    url, options = secrets.shown(ctx, connection)
    try:
        capabilities = sorted(c.value for c in resolve(connection.url).capabilities)
    except ConveyorError:
        capabilities = []
    # The sealed secrets have no field to be shown in; the URL and options are masked.
    return row_models.read(
        ConnectionOut, connection, url=url, options=options, capabilities=capabilities
    )


@dataclass(frozen=True)
class Target:
    """A connection loaded for I/O outside any transaction: what opening it takes (secrets
    in clear, the policy's reach), and what it was when loaded, to check before recording."""

    id: str
    workspace_id: str
    name: str
    endpoint: Endpoint
    stored: tuple[str, str, str | None]
    """The stored URL, options and sealed secrets: what the connection pointed at."""


def _stored(connection: Connection) -> tuple[str, str, str | None]:
    return (connection.url, repr(sorted(connection.options.items())), connection.sealed_secrets)


def target(ctx: Context, connection_id: str) -> Target:
    """A visible connection, loaded to be reached (not by viewers: reaching it connects)."""
    ctx.principal.require_write()
    connection = get(ctx, connection_id)
    return Target(
        connection.id,
        connection.workspace_id,
        connection.name,
        endpoint(ctx, connection),
        _stored(connection),
    )


def test(units: Units, principal: Principal, connection_id: str) -> ConnectionTestResult:
    """Try to reach the connection (not for viewers); remember the outcome.

    No transaction is open while the connection is tried. The outcome is recorded only
    if the connection still exists and points where it did (else the result is answered
    all the same, and nothing is recorded).
    """
    with units.unit(principal, read_only=True) as ctx:
        loaded = target(ctx, connection_id)
        audit.note(loaded.id, loaded.workspace_id)
    result = try_target(loaded)
    with units.unit(principal) as ctx:
        record_test(ctx, loaded, result)
    return result


def try_target(loaded: Target) -> ConnectionTestResult:
    """Open the connection, ping it, then try reading and writing it (`engine.access`);
    each failure is in the result, masked with the connection's own secrets (call with no
    transaction open: this waits as long as the connection's timeouts allow)."""
    started = time.monotonic()
    error: str | None = None
    access: Access | None = None
    can_capture: bool | None = None
    cdc_error: str | None = None
    redactor = loaded.endpoint.redactor
    try:
        connector = open_connector(
            loaded.endpoint.url, loaded.endpoint.options, loaded.endpoint.reach
        )
        try:
            connector.test()
            access = check_access(connector)
            if resolve(loaded.endpoint.url).name in CDC_SOURCES:
                cdc_error = log_problem(connector)
                can_capture = cdc_error is None
        finally:
            connector.close()
    except ConveyorError as exc:
        error = redactor.redact(exc.message)
    except Exception as exc:  # a driver's own exception: report it, do not crash the request
        error = redactor.redact(f"{type(exc).__name__}: {exc}")
    if access is None:
        access = Access.unreachable(error or "the connection could not be tried")

    def shown(reason: str | None) -> str | None:
        return None if reason is None else redactor.redact(reason)

    return ConnectionTestResult(
        ok=error is None,
        error=error,
        can_read=access.can_read,
        read_error=shown(access.read_error),
        can_write=access.can_write,
        write_error=shown(access.write_error),
        can_capture_changes=can_capture,
        cdc_error=shown(cdc_error),
        duration_ms=(time.monotonic() - started) * 1000,
    )


def record_test(ctx: Context, loaded: Target, result: ConnectionTestResult) -> bool:
    """Store a test's outcome on the connection; False (nothing stored) when it was
    deleted or pointed elsewhere while it was tried."""
    connection = ctx.session.get(Connection, loaded.id)
    if connection is None or _stored(connection) != loaded.stored:
        log.info(
            "connection %s was %s while it was tested: the outcome is not recorded",
            loaded.id,
            "deleted" if connection is None else "changed",
        )
        return False
    connection.last_tested_at = utcnow()
    connection.last_test_ok = result.ok
    connection.last_test_error = result.error
    return True


@contextlib.contextmanager
def _own_secrets_masked(redactor: Redactor) -> Iterator[None]:
    """Errors raised and lines logged inside, masked with one connection's own secrets on
    their way to the caller; a driver's own exception becomes a ConnectorError (502)."""
    with redacting(redactor):
        try:
            yield
        except ConveyorError as exc:
            exc.message = redactor.redact(exc.message)
            exc.args = (exc.message,)
            raise
        except Exception as exc:
            message = redactor.redact(f"{type(exc).__name__}: {exc}")
            log.warning("a driver failed: %s", message, exc_info=True)
            raise ConnectorError(message) from None


@contextlib.contextmanager
def discoverable(loaded: Target) -> Iterator[Discoverable]:
    """The connection opened to list what it holds (call with no transaction open)."""
    with _own_secrets_masked(loaded.endpoint.redactor):
        where = loaded.endpoint
        connector = open_connector(where.url, where.options, where.reach)
        try:
            if not isinstance(connector, Discoverable):
                raise InvalidInput(f"connection {loaded.name!r} cannot list its tables")
            yield connector
        finally:
            connector.close()


def list_tables(loaded: Target) -> list[dict[str, Any]]:
    """The tables (or files) a loaded connection holds (call with no transaction open)."""
    with discoverable(loaded) as found:
        return [t.as_dict() for t in found.list_tables()]


def tables(units: Units, principal: Principal, connection_id: str) -> list[dict[str, Any]]:
    """The tables (or files) the connection holds; no transaction is open meanwhile."""
    with units.unit(principal, read_only=True) as ctx:
        loaded = target(ctx, connection_id)
    return list_tables(loaded)


def addressed(found: Discoverable, table: str, schema: str | None = None) -> TableRef:
    """The table a caller names: `table` in `schema`, or `schema.table` in one name.

    A name with a dot is read as `schema.table` unless the connection holds a table of
    that whole name (a file `sales.2024.csv` is the table `sales.2024`).
    """
    if schema or "." not in table:
        return TableRef(table, schema or None)
    whole = TableRef(table)
    if isinstance(found, Readable) and found.table_exists(whole):
        return whole
    prefix, name = table.split(".", 1)
    return TableRef(name, prefix)


def columns(
    units: Units, principal: Principal, connection_id: str, table: str, schema: str | None = None
) -> list[dict[str, Any]]:
    """The columns of one table (in `schema` where the system has schemas, given apart or
    as `schema.table`); no transaction is open meanwhile."""
    with units.unit(principal, read_only=True) as ctx:
        loaded = target(ctx, connection_id)
    with discoverable(loaded) as found:
        return [c.as_dict() for c in found.columns(addressed(found, table, schema))]
