"""The audit log: who changed what, where, and how it ended; failed sign-ins too.

Three parts, each as cheap as it can be:

- **Noting.** A service that changes something calls `note(target_id, workspace_id)`.
  The HTTP recorder (`conveyor.api.audit`) opens a `Note` per request with `observing`,
  so whatever surface called the service — native, CData, SCAPI, Elastic, JSON:API —
  the entry names the same target and workspace without facade code deciding it. Outside
  a request (workers, scheduler, CLI) there is no note and `note` does nothing. The first
  note wins: a service notes its target as soon as it knows it, before calling services
  that may note theirs (Elastic's connector updates create connections on the way).
- **Recording.** `record` writes one row in its own short transaction, after the answer
  is decided: the request's own transaction has already committed (or rolled back), so a
  failed request is recorded too, with its status.
- **Reading and forgetting.** `list_`, `get` and `delete` are for admins only — the log
  shows every user's actions and addresses; `purge` deletes entries older than
  `audit_retention_days`, in batches so that no pass holds the store's lock for long.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, insert, or_, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.orm import Session, sessionmaker

from conveyor.config import Settings
from conveyor.domain import Role, utcnow
from conveyor.errors import InvalidInput, NotFound, PermissionDenied
from conveyor.schemas.audit import AuditEntryOut
from conveyor.services import listing
from conveyor.services.context import Context
from conveyor.store.models import AuditEntry
from conveyor.store.session import unit_of_work

FIELDS = {
    "id": AuditEntry.id,
    "created_at": AuditEntry.created_at,
    "user_id": AuditEntry.user_id,
    "user_name": AuditEntry.user_name,
    "workspace_id": AuditEntry.workspace_id,
    "surface": AuditEntry.surface,
    "method": AuditEntry.method,
    "route": AuditEntry.route,
    "path": AuditEntry.path,
    "action": AuditEntry.action,
    "target_id": AuditEntry.target_id,
    "status": AuditEntry.status,
    "client": AuditEntry.client,
}
SHORTHANDS = frozenset({"user", "workspace", "in_workspace", "since", "until"})
"""Filters beyond the list conventions: `user` (id or name), `workspace` (its entries, as
`workspace_id=`), `in_workspace` (its entries and the server-wide ones: sign-ins, users,
tokens), `since` (inclusive) and `until` (exclusive)."""
PURGE_BATCH = 5000


@dataclass
class Note:
    """What the services of one request changed (the last target they named)."""

    changed: bool = False
    target_id: str | None = None
    workspace_id: str | None = None


_current: contextvars.ContextVar[Note | None] = contextvars.ContextVar("audit_note", default=None)


@contextlib.contextmanager
def observing() -> Iterator[Note]:
    """Collect the notes of the services called within (one request)."""
    current = Note()
    token = _current.set(current)
    try:
        yield current
    finally:
        _current.reset(token)


def note(target_id: str, workspace_id: str | None = None) -> None:
    """Name what the current request changes (the first name holds); outside a request,
    nothing happens."""
    current = _current.get()
    if current is not None and not current.changed:
        current.changed = True
        current.target_id = target_id
        current.workspace_id = workspace_id


@dataclass(frozen=True)
class Entry:
    """One row of the log, as the recorder saw the request (column for column)."""

    created_at: dt.datetime
    surface: str
    method: str
    route: str
    path: str
    action: str
    status: int
    user_id: str | None = None
    user_name: str | None = None
    workspace_id: str | None = None
    target_id: str | None = None
    client: str | None = None


_INSERT = insert(AuditEntry)


def record(engine: Engine, entry: Entry) -> None:
    """Write one entry: a single INSERT in its own transaction, on a connection rather than
    an ORM session (half the cost: this runs after every write the API answers)."""
    with engine.begin() as connection:
        connection.execute(_INSERT, vars(entry))


def _require_admin(ctx: Context) -> None:
    if ctx.principal.role is not Role.admin:
        raise PermissionDenied("only admins read or change the audit log")


def _moment(raw: str, name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date or time", field=name) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def list_(ctx: Context, query: Mapping[str, str]) -> listing.Paged[AuditEntry]:
    """Entries, newest first, by the list conventions and the `SHORTHANDS` (admins only)."""
    _require_admin(ctx)
    params = listing.ListParams.parse(query, ignore=SHORTHANDS)
    statement = select(AuditEntry)
    if user := query.get("user"):
        statement = statement.where(or_(AuditEntry.user_id == user, AuditEntry.user_name == user))
    if workspace := query.get("workspace"):
        statement = statement.where(AuditEntry.workspace_id == workspace)
    if workspace := query.get("in_workspace"):
        statement = statement.where(
            or_(AuditEntry.workspace_id == workspace, AuditEntry.workspace_id.is_(None))
        )
    if since := query.get("since"):
        statement = statement.where(AuditEntry.created_at >= _moment(since, "since"))
    if until := query.get("until"):
        statement = statement.where(AuditEntry.created_at < _moment(until, "until"))
    statement = listing.apply(statement, params, FIELDS, ("-created_at", "-id"))
    return listing.page(ctx.session, statement, params)


def to_out(entry: AuditEntry) -> AuditEntryOut:
    """The entry as shown."""
    return AuditEntryOut.model_validate(entry)


def get(ctx: Context, entry_id: int | str) -> AuditEntry:
    """One entry (admins only), or 404."""
    _require_admin(ctx)
    try:
        number = int(entry_id)
    except (TypeError, ValueError):
        raise NotFound(f"audit entry {entry_id} not found") from None
    entry = ctx.session.get(AuditEntry, number)
    if entry is None:
        raise NotFound(f"audit entry {entry_id} not found")
    return entry


def delete(ctx: Context, entry_id: int | str) -> None:
    """Forget one entry (admins only); the request that deletes it is itself recorded."""
    entry = get(ctx, entry_id)
    note(str(entry.id), entry.workspace_id)
    ctx.session.delete(entry)


def purge(
    factory: sessionmaker[Session], settings: Settings, now: dt.datetime | None = None
) -> int:
    """Delete the entries older than `audit_retention_days` (0 keeps them); how many went."""
    if settings.audit_retention_days <= 0:
        return 0
    cutoff = (now or utcnow()) - dt.timedelta(days=settings.audit_retention_days)
    deleted = 0
    while True:
        with unit_of_work(factory) as session:
            batch = select(AuditEntry.id).where(AuditEntry.created_at < cutoff).limit(PURGE_BATCH)
            ids = list(session.scalars(batch))
            if ids:
                session.execute(delete_rows(AuditEntry).where(AuditEntry.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < PURGE_BATCH:
            return deleted
