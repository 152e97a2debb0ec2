"""Routes of /api/v1/connections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from conveyor.api.deps import RT, Caller, UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.schemas.connections import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionTestResult,
    ConnectionUpdate,
)
from conveyor.services import connections

router = APIRouter(route_class=UnitRoute, prefix="/connections", tags=["connections"])
add_routes(
    router,
    Collection.of("connection", connections, ConnectionOut, ConnectionCreate, ConnectionUpdate),
)


# These reach the connection's own system: they manage their own short transactions and
# hold none while they wait on it (see `connections.test`).
@router.post("/{connection_id}/test", response_model=ConnectionTestResult)
def test_connection(rt: RT, caller: Caller, connection_id: str) -> ConnectionTestResult:
    return connections.test(rt, caller, connection_id)


@router.get("/{connection_id}/tables")
def list_tables(rt: RT, caller: Caller, connection_id: str) -> dict[str, Any]:
    tables = connections.tables(rt, caller, connection_id)
    return {"items": tables, "total": len(tables)}


@router.get("/{connection_id}/tables/{table}/columns")
def list_columns(
    rt: RT, caller: Caller, connection_id: str, table: str, schema: str | None = None
) -> dict[str, Any]:
    columns = connections.columns(rt, caller, connection_id, table, schema)
    return {"items": columns, "total": len(columns)}
