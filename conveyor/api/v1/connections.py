"""Routes of /api/v1/connections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from conveyor.api.deps import Ctx, UnitRoute
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


@router.post("/{connection_id}/test", response_model=ConnectionTestResult)
def test_connection(ctx: Ctx, connection_id: str) -> ConnectionTestResult:
    return connections.test(ctx, connection_id)


@router.get("/{connection_id}/tables")
def list_tables(ctx: Ctx, connection_id: str) -> dict[str, Any]:
    tables = connections.tables(ctx, connection_id)
    return {"items": tables, "total": len(tables)}


@router.get("/{connection_id}/tables/{table}/columns")
def list_columns(
    ctx: Ctx, connection_id: str, table: str, schema: str | None = None
) -> dict[str, Any]:
    columns = connections.columns(ctx, connection_id, table, schema)
    return {"items": columns, "total": len(columns)}
