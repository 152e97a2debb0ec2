"""CData v1 actions on connections: test one, and explore what it holds.

    POST /api.rsc/testConnection              ConnectionName → SUCCESS, or a 400 saying why
    POST /api.rsc/getConnectionTables         ConnectionName, TableOrView, Schema,
                                              IncludeSchema, SkipTable, TopTable
    POST /api.rsc/getAddingTablesForJob       … and JobName|JobId: the tables the job does
                                              not copy yet (`GET /api/v1/jobs/{id}/tables-to-add`)
    POST /api.rsc/getConnectionTableColumns   ConnectionName, Table (or Schema.Table)

A connection is named by `ConnectionName` (or its id), in the workspace the call names,
in a short read transaction of its own: the services then reach the connection with no
transaction open.
Tables are listed by the connections service; this module only filters and pages them
the way CData's parameters ask (views or tables, one schema, a window) and words them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.api.deps import RT, Caller, UnitRoute
from conveyor.compat.cdata import bodies
from conveyor.compat.cdata.bodies import Fields, JSONBody
from conveyor.compat.cdata.responses import collection, odata_error, output
from conveyor.errors import InvalidInput
from conveyor.schemas.common import Ref
from conveyor.services import connections, jobs, tasks
from conveyor.services.context import Context, Principal

router = APIRouter(route_class=UnitRoute, tags=["CData Sync v1 (OData)"])
Row = dict[str, Any]


def _connection(ctx: Context, request: Request, fields: Fields) -> Ref:
    name = bodies.to_text(fields.get("ConnectionName", "Name", "ConnectionId"))
    if not name:
        raise InvalidInput("ConnectionName is required", field="ConnectionName")
    return connections.ref(ctx, name, bodies.requested_workspace(ctx, request, fields))


def _named(rt: RT, caller: Principal, request: Request, fields: Fields) -> Ref:
    with rt.unit(caller, read_only=True) as ctx:
        return _connection(ctx, request, fields)


@router.post("/api.rsc/testconnection", name="cdata_test_connection")
def test_connection(rt: RT, caller: Caller, request: Request, body: JSONBody) -> Response:
    """Test a connection; a failure is an error response (its outcome is still saved)."""
    fields = Fields(body)
    connection = _named(rt, caller, request, fields)
    result = connections.test(rt, caller, connection.id)
    if not result.ok:
        return odata_error(400, "ConnectionTestFailed", f"{connection.name}: {result.error}")
    row = {
        "ConnectionName": connection.name,
        "Status": "SUCCESS",
        "Details": "The connection test succeeded",
        "DurationMs": round(result.duration_ms, 1),
    }
    return collection(request, output("testConnection"), [row], top=row)


def _table_rows(fields: Fields, found: list[dict[str, Any]]) -> list[Row]:
    kind = bodies.to_text(fields.get("TableOrView", default="ALL")).upper()
    schema = bodies.to_text(fields.get("Schema"))
    with_schema = bodies.to_bool(fields.get("IncludeSchema", default=False), "IncludeSchema")
    fields.get("IncludeCatalog")
    skip = bodies.to_int(fields.get("SkipTable", default=0), "SkipTable")
    top = fields.get("TopTable")
    rows = [
        {
            "TableName": t["name"]
            if not with_schema or t["in_default_schema"]
            else f"{t['schema']}.{t['name']}",
            "SchemaName": t["schema"],
            "CatalogName": None,
            "TableType": "VIEW" if t["kind"] == "view" else "TABLE",
            "RowEstimate": t["row_estimate"],
        }
        for t in found
        if (not schema or t["schema"] == schema)
        and (kind in ("", "ALL") or (kind.startswith("VIEW") == (t["kind"] == "view")))
    ]
    end = None if top in (None, "") else skip + bodies.to_int(top, "TopTable")
    return rows[skip:end]


@router.post("/api.rsc/getconnectiontables", name="cdata_get_connection_tables")
def get_connection_tables(rt: RT, caller: Caller, request: Request, body: JSONBody) -> Response:
    """The tables (and views, or files) a connection holds."""
    fields = Fields(body)
    connection = _named(rt, caller, request, fields)
    rows = _table_rows(fields, connections.tables(rt, caller, connection.id))
    return collection(request, output("getConnectionTables"), rows)


@router.post("/api.rsc/getaddingtablesforjob", name="cdata_get_adding_tables_for_job")
def get_adding_tables_for_job(rt: RT, caller: Caller, request: Request, body: JSONBody) -> Response:
    """The tables of a connection the job does not replicate yet."""
    fields = Fields(body)
    key = bodies.to_text(fields.get("JobId")) or bodies.to_text(fields.get("JobName"))
    with rt.unit(caller, read_only=True) as ctx:
        connection = _connection(ctx, request, fields)
        if not key:
            raise InvalidInput("JobName or JobId is required", field="JobName")
        job = jobs.ref(ctx, key, connection.workspace_id)
    rows = _table_rows(fields, tasks.tables_to_add(rt, caller, job.id, connection.id))
    return collection(request, output("getAddingTablesForJob"), rows)


@router.post("/api.rsc/getconnectiontablecolumns", name="cdata_get_connection_table_columns")
def get_connection_table_columns(
    rt: RT, caller: Caller, request: Request, body: JSONBody
) -> Response:
    """The columns of one table, with their types."""
    fields = Fields(body)
    connection = _named(rt, caller, request, fields)
    table = bodies.to_text(fields.get("Table", "TableName"))
    schema = bodies.to_text(fields.get("Schema")) or None
    rows = [
        {
            "ColumnName": c["name"],
            "DataType": c["native_type"] or c["type"],
            "ArrowType": c["type"],
            "IsNullable": c["nullable"],
            "IsKey": c["primary_key"],
            "Ordinal": index,
        }
        for index, c in enumerate(connections.columns(rt, caller, connection.id, table, schema))
    ]
    return collection(request, output("getConnectionTableColumns"), rows)
