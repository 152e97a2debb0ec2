"""CData v1 entity sets: what one is (`EntitySet`, its OData `Key`), plus history and
workspaces.

Each entity set says how to list its rows, find one by its OData key, and create, change
or delete one — always through the services, so `/api/v1` sees the same jobs and runs.
Rows keep Python values (booleans, numbers, datetimes) so that `$filter` and `$orderby`
compare them as such; ids are strings, PascalCase names are CData's. Jobs and tasks are in
`jobs`, connections and transformations in `resources`, users in `users`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import case

from conveyor.compat.cdata.bodies import Fields, canonical, model, to_text
from conveyor.compat.cdata.odata.evaluate import equalities
from conveyor.compat.cdata.odata.query import QueryOptions, Result, apply
from conveyor.compat.cdata.odata.sql import Column, Columns, column, compile_query
from conveyor.compat.cdata.runs import RUN_STATUS, history_row
from conveyor.domain import Role, RunStatus
from conveyor.errors import InvalidInput, NotFound
from conveyor.schemas.workspaces import WorkspaceCreate, WorkspaceOut, WorkspaceUpdate
from conveyor.services import listing, runs, workspaces
from conveyor.services.context import Context

Row = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Key:
    """An OData key: `('x')` is the single value `x`; `(JobName='a',TaskId='b')` is named."""

    values: dict[str, str]

    @classmethod
    def parse(cls, raw: str) -> Key:
        """Read the text between the parentheses (already URL-decoded)."""
        values: dict[str, str] = {}
        for part in re.findall(r"(?:[^,']|'(?:[^']|'')*')+", raw):
            name, sep, value = part.partition("=")
            if not sep or name.strip().startswith("'"):
                name, value = "", part
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1].replace("''", "'")
            values[canonical(name)] = value
        if not values or any(v == "" for v in values.values()):
            raise InvalidInput(f"invalid key ({raw})", field="key")
        return cls(values)

    def get(self, *names: str) -> str | None:
        """The value named by one of `names`, or the single unnamed value."""
        for name in names:
            if (value := self.values.get(canonical(name))) is not None:
                return value
        return self.values.get("")


@dataclass(frozen=True)
class EntitySet:
    """How one CData entity set is listed, read and changed.

    A set whose rows are in the store declares `columns` (each property's SQL expression)
    and `search`: its `$filter`, `$orderby`, `$top`, `$skip` and `$count` are compiled to
    SQL (`sql.compile_query`) and run by the service, which reads only the page. Otherwise
    `rows` gives every row and the options are applied to them in memory — for sets that
    are a handful of rows by nature — or `page` applies them itself.
    """

    name: str
    properties: tuple[str, ...]
    key: tuple[str, ...]
    """The properties that name a row (`jobs('<JobName>')`): a `$select` always has them."""
    rows: Callable[[Context, str | None, QueryOptions], list[Row]]
    get: Callable[[Context, Key, str | None], Row | list[Row]]
    create: Callable[[Context, Fields, str | None], Row] | None = None
    update: Callable[[Context, Key | None, Fields, str | None], Row] | None = None
    delete: Callable[[Context, Key | None, Fields, str | None], None] | None = None
    page: Callable[[Context, str | None, QueryOptions], Result] | None = None
    columns: Columns | None = None
    search: Callable[[Context, str | None, listing.Query], listing.Found[Row]] | None = None

    def select(self, ctx: Context, workspace_id: str | None, options: QueryOptions) -> Result:
        """The rows of the page the options ask for, and how many match the filter."""
        if self.columns is not None and self.search is not None:
            dialect = ctx.session.get_bind().dialect.name
            query = compile_query(options, self.columns, self.name, dialect)
            found = self.search(ctx, workspace_id, query)
            rows = found.rows
            if options.select is not None:
                rows = [{name: row.get(name) for name in options.select} for row in rows]
            return Result(rows, found.total or 0)
        if self.page is not None:
            return self.page(ctx, workspace_id, options)
        return apply(self.rows(ctx, workspace_id, options), options)


def listed(
    fetch: Callable[[Mapping[str, str]], listing.Paged[T]],
    pushdown: Mapping[str, str],
    options: QueryOptions,
    workspace_id: str | None = None,
) -> list[T]:
    """Every row a service lists (of one workspace, when given), narrowed by the service
    where `$filter`'s `Prop eq 'x'` terms allow it (`pushdown` maps a property to the
    service's filter); the rows are still filtered by `$filter` afterwards."""
    query = {
        pushdown[name]: str(value)
        for name, value in equalities(options.filter).items()
        if name in pushdown and isinstance(value, str)
    }
    if workspace_id:
        query["workspace_id"] = workspace_id
    return listing.every(fetch, query)


def can_write(ctx: Context) -> bool:
    """Whether the caller may change things (CData's CanUpdate / CanRemove / CanExecute)."""
    return ctx.principal.role is not Role.viewer


# --- history -----------------------------------------------------------------------------

HISTORY_PROPERTIES = (
    *("Id", "InstanceId", "JobId", "JobName", "RunStartDate", "RunEndDate", "Status"),
    *("Details", "Runtime", "RecordsAffected", "RowsRead", "RowsDeleted", "LogFile"),
    *("Trigger", "Kind", "WorkspaceId"),
)


def status_column(status: Any, never: str | None = None) -> Column:
    """CData's word for a run's status (`run_status`) as SQL; `never` where there is no
    run (a job's status). `eq` and `in` compare the native statuses it stands for."""
    whens = [(status == native.value, word) for native, word in RUN_STATUS.items()]
    meaning: dict[str, tuple[Any, ...]] = {
        word: (native.value,) for native, word in RUN_STATUS.items()
    }
    meaning["RUNNING"] = tuple(s.value for s in RunStatus if s not in RUN_STATUS)
    if never is not None:
        whens.insert(0, (status.is_(None), never))
        meaning[never] = (None,)
    expr = case(*whens, else_="RUNNING")
    return column(expr, str, nullable=False, words=None if never else (status, meaning))


def _history_columns() -> Columns:
    fields = runs.COLUMNS
    return {
        "Id": column(fields["id"]),
        "InstanceId": column(fields["id"]),
        "JobId": column(fields["definition_id"], str),
        "JobName": column(fields["job_name"]),
        "RunStartDate": column(fields["run_start"], nullable=False),
        "RunEndDate": column(fields["completed_at"]),
        "Status": status_column(fields["status"]),
        "RecordsAffected": column(fields["rows_written"]),
        "RowsRead": column(fields["rows_read"]),
        "RowsDeleted": column(fields["rows_deleted"]),
        "LogFile": column(fields["log_file"], str, nullable=False),
        "Trigger": column(fields["trigger_method"]),
        "Kind": column(fields["kind"]),
        "WorkspaceId": column(fields["workspace_id"]),
    }
    # Details (a redacted error) and Runtime (to now, while running) are computed: refused.


def _history_rows(ctx: Context, workspace_id: str | None, options: QueryOptions) -> list[Row]:
    return HISTORY.select(ctx, workspace_id, options).rows


def _get_history(ctx: Context, key: Key, workspace_id: str | None) -> Row:
    run = runs.read(ctx, key.get("Id", "InstanceId") or "")
    if workspace_id is not None and run.workspace_id != workspace_id:
        raise NotFound(f"history {run.id} not found")
    return history_row(run)


HISTORY = EntitySet(
    name="history",
    properties=HISTORY_PROPERTIES,
    key=("Id",),
    rows=_history_rows,
    get=_get_history,
    columns=_history_columns(),
    search=lambda ctx, ws, query: runs.search(ctx, query, ws).map(
        lambda run: history_row(runs.to_out(run))
    ),
)

# --- workspaces --------------------------------------------------------------------------


NAMES = {"name": "Name"}
"""Workspace fields: native → CData."""


def workspace_row(workspace: WorkspaceOut) -> Row:
    """A workspace as CData's WorkspaceInfo."""
    return {"Id": workspace.id, "Name": workspace.name, "CreationTime": workspace.created_at}


def _workspace_key(key: Key | None, fields: Fields) -> str:
    value = (key.get("Id", "Name") if key else None) or to_text(fields.get("Id"))
    if not value:
        raise InvalidInput("Id is required", field="Id")
    return value


def _update_workspace(ctx: Context, key: Key | None, fields: Fields, _ws: str | None) -> Row:
    workspace_id = workspaces.find_id(ctx, _workspace_key(key, fields))
    name = fields.get("Name")
    fields.refuse_unknown()
    updated = workspaces.update(
        ctx, workspace_id, model(WorkspaceUpdate, NAMES, name=to_text(name) or None)
    )
    return workspace_row(workspaces.to_out(ctx, updated))


def _create_workspace(ctx: Context, fields: Fields, _ws: str | None) -> Row:
    name = to_text(fields.get("Name"))
    fields.refuse_unknown("WorkspaceId")
    created = workspaces.create(ctx, model(WorkspaceCreate, NAMES, name=name))
    return workspace_row(workspaces.to_out(ctx, created))


WORKSPACES = EntitySet(
    name="workspaces",
    properties=("Id", "Name", "CreationTime"),
    key=("Id",),
    rows=lambda ctx, _ws, _o: [
        workspace_row(workspaces.to_out(ctx, w))
        for w in listing.every(lambda q: workspaces.list_(ctx, q), {})
    ],
    get=lambda ctx, key, _ws: workspace_row(
        workspaces.to_out(
            ctx, workspaces.get(ctx, workspaces.find_id(ctx, key.get("Id", "Name") or ""))
        )
    ),
    create=_create_workspace,
    update=_update_workspace,
    delete=lambda ctx, key, fields, _ws: workspaces.delete(
        ctx, workspaces.find_id(ctx, _workspace_key(key, fields))
    ),
)
