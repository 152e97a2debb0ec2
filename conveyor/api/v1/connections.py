"""Routes of /api/v1/connections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import Ctx
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.schemas.connections import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionTestResult,
    ConnectionUpdate,
)
from conveyor.services import connections

router = APIRouter(prefix="/connections", tags=["connections"])


@router.get("", response_model=Page[ConnectionOut])
def list_connections(ctx: Ctx, request: Request) -> Page[ConnectionOut]:
    return page_of(
        connections.list_(ctx, request.query_params), lambda c: connections.to_out(ctx, c)
    )


@router.post("", status_code=201, response_model=ConnectionOut)
def create_connection(ctx: Ctx, body: ConnectionCreate) -> ConnectionOut:
    return connections.to_out(ctx, connections.create(ctx, body))


@router.get("/{connection_id}", response_model=ConnectionOut)
def get_connection(ctx: Ctx, connection_id: str) -> ConnectionOut:
    return connections.to_out(ctx, connections.get(ctx, connection_id))


@router.patch("/{connection_id}", response_model=ConnectionOut)
def update_connection(ctx: Ctx, connection_id: str, body: ConnectionUpdate) -> ConnectionOut:
    return connections.to_out(ctx, connections.update(ctx, connection_id, body))


@router.delete("/{connection_id}", status_code=204, response_class=Response)
def delete_connection(ctx: Ctx, connection_id: str) -> None:
    connections.delete(ctx, connection_id)


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
