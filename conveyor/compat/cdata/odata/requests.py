"""CData v1's `requests` entity set — CData Sync's API request log — read from the audit log.

    GET    /api.rsc/requests            $filter $select $top $skip $orderby $count
    GET    /api.rsc/requests/$count     GET /api.rsc/requests('<Id>')    …/<Prop>/$value
    DELETE /api.rsc/requests('<Id>')

Rows carry CData's RequestInfo fields — `Id, Timestamp, URL, Method, User, RemoteIP,
Status, Error` — and Conveyor's own beside them (`UserId, WorkspaceId, Surface, Action,
Route, TargetId`). `URL` is the path requested: the log never keeps a query string.

Who sees it: admins only, as in CData Sync, where the request log is an admin's page. It
shows every user's actions and addresses, so anyone else gets 403 — on reads and deletes
alike, the same answer as `/api/v1/audit`. `?workspaceId=` (which CData's clients send
with every call) narrows the log to that workspace's entries and the server-wide ones
(sign-ins, users, tokens), which belong to no workspace.

The log grows with every write, so a list is not built by evaluating every row: a
`$filter` whose terms are comparisons joined by `and` on stored fields, with an
`$orderby` on such fields, is applied and paged by the store. Any other filter is
evaluated over the rows its comparable terms select, up to `MAX_SCAN` of them; beyond
that the answer is a 400 asking for a narrower filter. A list without `$top` holds at
most `PAGE` rows, with an `@odata.nextLink` to the next page: never a silently cut list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from http import HTTPStatus
from typing import Any

from conveyor.compat.cdata.bodies import Fields, to_text
from conveyor.compat.cdata.odata.entities import EntitySet, Key, Row
from conveyor.compat.cdata.odata.evaluate import conjuncts
from conveyor.compat.cdata.odata.expressions import QueryOptionError, parse_datetime
from conveyor.compat.cdata.odata.query import QueryOptions, Result, apply
from conveyor.errors import InvalidInput, NotFound
from conveyor.schemas.audit import AuditEntryOut
from conveyor.services import audit
from conveyor.services.context import Context

PROPERTIES = (
    *("Id", "Timestamp", "URL", "Method", "User", "RemoteIP", "Status", "Error"),
    *("UserId", "WorkspaceId", "Surface", "Action", "Route", "TargetId"),
)
STORED = {
    "Id": "id",
    "Timestamp": "created_at",
    "URL": "path",
    "Method": "method",
    "User": "user_name",
    "RemoteIP": "client",
    "Status": "status",
    "UserId": "user_id",
    "WorkspaceId": "workspace_id",
    "Surface": "surface",
    "Action": "action",
    "Route": "route",
    "TargetId": "target_id",
}
"""The properties that are audit fields, by the service's field names: a row reads them
there, and the store filters on them."""
SORTABLE = frozenset({"Id", "Timestamp", "URL", "Method", "Status", "Surface", "Action", "Route"})
"""Stored properties that are never null: the store orders them as `$orderby` would."""
NUMBERS = frozenset({"Id", "Status"})
BOUNDS = {"eq": "", "ge": "__gte", "gt": "__gte", "le": "__lte", "lt": "__lte", "in": "__in"}
PAGE = 1000
MAX_SCAN = 100_000


def request_row(entry: AuditEntryOut) -> Row:
    """An audit entry as CData's RequestInfo (plus Conveyor's fields): each stored
    property read from the field `STORED` names, `Error` worded from the status."""
    row: Row = dict.fromkeys(PROPERTIES)
    row.update((name, getattr(entry, field)) for name, field in STORED.items())
    row["Error"] = _error(entry.status)
    return row


def _error(status: int) -> str | None:
    if status < 400:
        return None
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _text(name: str, value: Any) -> str | None:
    """A literal as the service's filters read it; None when the store cannot compare it."""
    if value is None or isinstance(value, bool):
        return None
    if name in NUMBERS:
        try:
            return str(int(str(value)))
        except ValueError:
            return None
    if name == "Timestamp":
        moment = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
        return None if moment is None else moment.isoformat()
    text = str(value)
    return None if "," in text else text


def store_query(options: QueryOptions) -> tuple[dict[str, str], bool]:
    """The service filters `$filter` implies, and whether they are all of it (exact)."""
    terms, exact = conjuncts(options.filter)
    query: dict[str, str] = {}
    for name, op, value in terms:
        values = value if op == "in" else (value,)
        texts = [_text(name, v) for v in values]
        if name not in STORED or op not in BOUNDS or None in texts:
            exact = False
            continue
        key = STORED[name] + BOUNDS[op]
        if key in query:  # a second bound on one side: the rows are checked afterwards
            exact = False
            continue
        query[key] = ",".join(t for t in texts if t is not None)
        exact = exact and op not in ("gt", "lt")
    return query, exact


def _sort(options: QueryOptions) -> str | None:
    """`$orderby` as the service's `sort` (newest first by default); None when it cannot."""
    if any(name not in SORTABLE for name, _ in options.orderby):
        return None
    terms = [("-" if descending else "") + STORED[name] for name, descending in options.orderby]
    return ",".join(terms) or "-created_at"


def _scope(workspace_id: str | None) -> dict[str, str]:
    return {"in_workspace": workspace_id} if workspace_id else {}


def _window(
    ctx: Context, query: dict[str, str], skip: int, top: int | None
) -> tuple[list[AuditEntryOut], int]:
    """`top` entries (all when None) from `skip` on, and how many match."""
    rows: list[AuditEntryOut] = []
    while True:
        wanted = PAGE if top is None else min(PAGE, top - len(rows))
        page = audit.list_(
            ctx, {**query, "limit": str(max(wanted, 1)), "offset": str(skip + len(rows))}
        ).map(audit.to_out)
        rows.extend(page.rows[: max(wanted, 0)])
        done = top is not None and len(rows) >= top
        if done or len(page.rows) < PAGE or skip + len(rows) >= page.total:
            return rows, page.total


def page(ctx: Context, workspace_id: str | None, options: QueryOptions) -> Result:
    """The rows of one `$top`/`$skip` page (`PAGE` rows without `$top`, and where the next
    page starts) and the count the filter matches."""
    cut = options.top is None
    if cut:
        options = dataclasses.replace(options, top=PAGE)
    query, exact = store_query(options)
    query |= _scope(workspace_id)
    sort = _sort(options)
    if exact and sort is not None:
        entries, total = _window(ctx, {**query, "sort": sort}, options.skip, options.top)
        rows = [request_row(entry) for entry in entries]
        if options.select is not None:
            rows = [{name: row.get(name) for name in options.select} for row in rows]
        result = Result(rows, total)
    else:
        result = apply(_scanned(ctx, query), options)
    following = options.skip + len(result.rows)
    return dataclasses.replace(
        result, next_skip=following if cut and following < result.total else None
    )


def _scanned(ctx: Context, query: dict[str, str]) -> list[Row]:
    """Every row the pushed-down part of a filter selects (refused past `MAX_SCAN`)."""
    first = audit.list_(ctx, {**query, "limit": "1"})
    if first.total > MAX_SCAN:
        raise QueryOptionError(
            f"$filter: this filter has {first.total} log entries checked one by one (at "
            f"most {MAX_SCAN}); narrow it with terms joined by 'and' such as "
            "Timestamp ge 2025-01-01T00:00:00Z, User eq '…' or Action eq '…'",
            option="$filter",
        )
    return [request_row(e) for e in _window(ctx, query, 0, None)[0]]


def _rows(ctx: Context, workspace_id: str | None, options: QueryOptions) -> list[Row]:
    """The first page (the set pages itself: `page` is what lists use)."""
    return page(ctx, workspace_id, dataclasses.replace(options, skip=0, top=None)).rows


def _entry(
    ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None
) -> AuditEntryOut:
    ident = (key.get("Id") if key else None) or to_text(fields.get("Id"))
    if not ident:
        raise InvalidInput("Id is required", field="Id")
    entry = audit.to_out(audit.get(ctx, ident))
    if workspace_id is not None and entry.workspace_id not in (None, workspace_id):
        raise NotFound(f"request {ident} not found")
    return entry


REQUESTS = EntitySet(
    name="requests",
    properties=PROPERTIES,
    key=("Id",),
    rows=_rows,
    get=lambda ctx, key, ws: request_row(_entry(ctx, key, Fields({}), ws)),
    delete=lambda ctx, key, fields, ws: audit.delete(ctx, _entry(ctx, key, fields, ws).id),
    page=page,
)
