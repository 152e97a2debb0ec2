"""Connection pages: the list, new and edit forms with URL help, Test inline, and a
browser of each connection's tables and their columns."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from conveyor.connectors import registry
from conveyor.console.web import Page, Posted, Signed, field_values, redirect
from conveyor.errors import ConveyorError, InvalidInput
from conveyor.schemas.connections import ConnectionCreate, ConnectionUpdate
from conveyor.services import connections

router = APIRouter(prefix="/ui/connections")

EXAMPLES = {
    "sqlite": "sqlite:///path/to/file.db",
    "duckdb": "duckdb:///path/to/file.duckdb",
    "files": "file:///path/to/folder?format=csv",
    "postgres": "postgresql://user:password@host:5432/database",
    "mysql": "mysql://user:password@host:3306/database",
}


def url_help() -> list[dict[str, str]]:
    """Per scheme: what the connector is and a URL to start from."""
    return [
        {
            "schemes": ", ".join(f"{scheme}://" for scheme in spec.schemes),
            "description": spec.description,
            "example": EXAMPLES.get(spec.name, f"{spec.schemes[0]}://…"),
        }
        for spec in registry.specs()
    ]


def _form(page: Page, status_code: int = 200, **values: Any) -> HTMLResponse:
    return page.render("connection_form.html", status_code, url_help=url_help(), **values)


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def list_connections(page: Signed) -> HTMLResponse:
    """Every connection the caller sees."""
    with page.unit(read_only=True) as ctx:
        found = connections.list_(ctx, page.scoped({"sort": "name", "limit": "1000"}))
        items = [connections.to_out(ctx, row) for row in found.rows]
    return page.render("connections.html", connections=items, total=found.total)


@router.get("/new", response_class=HTMLResponse, include_in_schema=False)
def new_connection(page: Signed) -> HTMLResponse:
    """The form for a new connection."""
    return _form(page, connection=None, values={"name": "", "url": ""})


@router.post("/new", include_in_schema=False)
def create_connection(page: Posted) -> Response:
    """Create the connection; the form again with the refusal when the service says no."""
    values = field_values(page.form, "name", "url")
    try:
        data = ConnectionCreate(name=values["name"], url=values["url"], workspace_id=page.workspace)
        with page.unit() as ctx:
            created = connections.create(ctx, data)
            connection_id = created.id
    except ValidationError as exc:
        return _form(page, 422, connection=None, values=values, error=_invalid(exc))
    except ConveyorError as exc:
        return _form(page, exc.status_code, connection=None, values=values, error=exc.message)
    return redirect(f"/ui/connections/{connection_id}")


def _invalid(exc: ValidationError) -> str:
    return InvalidInput.from_validation(exc).message


@router.get("/{connection_id}", response_class=HTMLResponse, include_in_schema=False)
def edit_connection(page: Signed, connection_id: str) -> HTMLResponse:
    """A connection's form, its last test and the Test button."""
    try:
        with page.unit(read_only=True) as ctx:
            shown = connections.to_out(ctx, connections.get(ctx, connection_id))
    except ConveyorError as exc:
        return page.fail(exc)
    return _form(page, connection=shown, values={"name": shown.name, "url": shown.url})


@router.post("/{connection_id}", include_in_schema=False)
def save_connection(page: Posted, connection_id: str) -> Response:
    """Save a changed name or URL (a `***` password keeps the stored one)."""
    values = field_values(page.form, "name", "url")
    try:
        with page.unit() as ctx:
            shown = connections.to_out(ctx, connections.get(ctx, connection_id))
            changes: dict[str, Any] = {}
            if values["name"] != shown.name:
                changes["name"] = values["name"]
            if values["url"] != shown.url:
                changes["url"] = values["url"]
            connections.update(ctx, connection_id, ConnectionUpdate(**changes))
    except ValidationError as exc:
        return _form(page, 422, connection=shown, values=values, error=_invalid(exc))
    except ConveyorError as exc:
        if exc.status_code == 404:
            return page.fail(exc)
        return _form(page, exc.status_code, connection=shown, values=values, error=exc.message)
    return redirect(f"/ui/connections/{connection_id}?saved=1")


@router.post("/{connection_id}/test", response_class=HTMLResponse, include_in_schema=False)
def test_connection(page: Posted, connection_id: str) -> Response:
    """Try to reach the connection; htmx swaps the result into the page."""
    try:
        result = connections.test(page.runtime, page.principal, connection_id)
    except ConveyorError as exc:
        return (
            page.fail(exc)
            if not page.is_htmx()
            else page.render(
                "connection_test.html", exc.status_code, result=None, error=exc.message
            )
        )
    if page.is_htmx():
        return page.render("connection_test.html", result=result, error=None)
    return redirect(f"/ui/connections/{connection_id}")


@router.get("/{connection_id}/tables", response_class=HTMLResponse, include_in_schema=False)
def list_tables(page: Signed, connection_id: str) -> HTMLResponse:
    """The tables (or files) the connection holds, as its system reports them."""
    try:
        with page.unit(read_only=True) as ctx:
            shown = connections.to_out(ctx, connections.get(ctx, connection_id))
        found = connections.tables(page.runtime, page.principal, connection_id)
    except ConveyorError as exc:
        return page.fail(exc)
    return page.render("tables.html", connection=shown, tables=found)


@router.get("/{connection_id}/tables/{table}", response_class=HTMLResponse, include_in_schema=False)
def list_columns(
    page: Signed, connection_id: str, table: str, schema: str | None = None
) -> HTMLResponse:
    """One table's columns: name, Arrow type, native type, nullability, primary key."""
    try:
        with page.unit(read_only=True) as ctx:
            shown = connections.to_out(ctx, connections.get(ctx, connection_id))
        found = connections.columns(page.runtime, page.principal, connection_id, table, schema)
    except ConveyorError as exc:
        return page.fail(exc)
    return page.render("columns.html", connection=shown, table=table, schema=schema, columns=found)
