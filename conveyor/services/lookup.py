"""One visible row of a resource that lives in a workspace: by id, or by a name.

Every service looks its rows up the same way, so the rule is written once: a row of a
workspace the caller cannot see is not found — 404, never 403 (DESIGN.md §6) — and the
error reads `<what> <key> not found` whichever way the key was meant. `get` takes an id;
`find` takes an id or, failing that, a name (unique per workspace, so where the caller
sees several workspaces the oldest row of that name wins), optionally within one
workspace; `visible` keeps any query — a list's too — to the caller's workspaces.
`Resource` offers these reads, and the list, for one named model, so a service declares
them in a line instead of writing them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute

from conveyor.errors import InvalidInput, NotFound
from conveyor.schemas.common import Ref
from conveyor.services import listing
from conveyor.services.context import Context
from conveyor.store.models import Connection, File, Job, Pipeline, Transformation, Workspace

Owned = TypeVar("Owned", Connection, File, Job, Pipeline, Transformation, Workspace)
"""A resource that belongs to a workspace."""
Named = TypeVar("Named", Connection, Job, Pipeline, Transformation, Workspace)
"""A resource that belongs to a workspace and has a name."""

OWNER: Mapping[type[Any], InstrumentedAttribute[str]] = {
    Connection: Connection.workspace_id,
    File: File.workspace_id,
    Job: Job.workspace_id,
    Pipeline: Pipeline.workspace_id,
    Transformation: Transformation.workspace_id,
    Workspace: Workspace.id,
}
"""The column naming the workspace a row belongs to; a workspace belongs to itself."""
S = TypeVar("S", bound=Select[Any])


def visible(ctx: Context, statement: S, owner: InstrumentedAttribute[str]) -> S:
    """`statement` kept to the rows whose `owner` column names a workspace the caller
    sees (all of them, for a caller not restricted to some)."""
    if ctx.principal.workspace_ids:
        return statement.where(owner.in_(ctx.principal.workspace_ids))
    return statement


def _workspace_of(row: Any) -> str:
    return str(getattr(row, OWNER[type(row)].key))


def get(ctx: Context, model: type[Owned], ident: str, what: str) -> Owned:
    """The visible row with that id, or 404."""
    row = ctx.session.get(model, ident)
    if row is None or not ctx.principal.sees(_workspace_of(row)):
        raise NotFound(f"{what} {ident} not found")
    return row


def find(
    ctx: Context,
    model: type[Named],
    key: str,
    what: str,
    workspace_id: str | None = None,
    *,
    by: InstrumentedAttribute[Any] | None = None,
) -> Named:
    """The visible row with that id or, failing that, that name (or the column `by`);
    with `workspace_id`, only a row of that workspace; or 404."""
    row = ctx.session.get(model, key)
    if row is not None:
        owner = _workspace_of(row)
        if not ctx.principal.sees(owner) or workspace_id not in (None, owner):
            row = None
    if row is None:
        owner_column = OWNER[model]
        statement = select(model).where((model.name if by is None else by) == key)
        if workspace_id is not None:
            statement = statement.where(owner_column == workspace_id)
        statement = visible(ctx, statement, owner_column)
        row = ctx.session.scalars(statement.order_by(model.created_at)).first()
    if row is None:
        raise NotFound(f"{what} {key} not found")
    return row


@dataclass(frozen=True)
class Resource(Generic[Named]):
    """The reads of one named resource, as its service offers them: `get` by id, `find`
    by id or name, `ref` (what `find` found, in brief) and `list_` with the list
    conventions over its filterable `fields`."""

    model: type[Named]
    what: str
    fields: Mapping[str, InstrumentedAttribute[Any]]

    def get(self, ctx: Context, ident: str) -> Named:
        """A visible row by id, or 404."""
        return get(ctx, self.model, ident, self.what)

    def referenced(self, ctx: Context, ident: str, field: str, what: str = "") -> Named:
        """The visible row a request body names by id in `field`: a 422 naming the field
        when there is none (the body is what is wrong, not the URL)."""
        try:
            return self.get(ctx, ident)
        except NotFound:
            raise InvalidInput(f"{what or self.what} {ident} not found", field=field) from None

    def find(self, ctx: Context, key: str, workspace_id: str | None = None) -> Named:
        """A visible row by id or, failing that, by name (unique per workspace); with
        `workspace_id`, only a row of that workspace; or 404."""
        return find(ctx, self.model, key, self.what, workspace_id)

    def ref(self, ctx: Context, key: str, workspace_id: str | None = None) -> Ref:
        """`find`'s row in brief: its id, name and workspace."""
        return Ref.model_validate(self.find(ctx, key, workspace_id))

    def list_(self, ctx: Context, query: Mapping[str, str]) -> listing.Paged[Named]:
        """Visible rows, filtered and sorted by the list conventions, by name by default."""
        params = listing.ListParams.parse(query)
        statement = visible(ctx, select(self.model), OWNER[self.model])
        return listing.page(
            ctx.session, listing.apply(statement, params, self.fields, ("name",)), params
        )

    def search(
        self, ctx: Context, query: listing.Query, workspace_id: str | None = None
    ) -> listing.Found[Named]:
        """Visible rows (of one workspace, when given) as a facade's `query` asks, in
        name order where it leaves ties."""
        owner = OWNER[self.model]
        statement = visible(ctx, select(self.model), owner)
        if workspace_id is not None:
            statement = statement.where(owner == workspace_id)
        return listing.search(
            ctx.session, statement, query, (self.model.name.asc(), self.model.id.asc())
        )
