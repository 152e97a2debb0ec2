"""Connections: where data comes from and goes to, and whether they can be reached.

src = client.connections.create(name="shop", url="sqlite:///shop.db")
result = client.connections.test(src.id)
if not result.ok:
    print(result.error)
print(client.connections.tables(src.id))
"""

from __future__ import annotations

import builtins
from typing import Any

from conveyor.client.collection import AsyncCollection, Calls, Collection
from conveyor.client.transport import Call, model, query
from conveyor.schemas.connections import ConnectionOut, ConnectionTestResult


def _items(answer: Any) -> builtins.list[dict[str, Any]]:
    return [dict(item) for item in answer["items"]]


class ConnectionCalls(Calls[ConnectionOut]):
    """The requests of `/api/v1/connections`."""

    path = "/api/v1/connections"
    out = ConnectionOut

    def test_call(self, key: str) -> Call[ConnectionTestResult]:
        return Call("POST", f"{self.path}/{key}/test", model(ConnectionTestResult))

    def tables_call(self, key: str) -> Call[builtins.list[dict[str, Any]]]:
        return Call("GET", f"{self.path}/{key}/tables", _items)

    def columns_call(
        self, key: str, table: str, schema: str | None
    ) -> Call[builtins.list[dict[str, Any]]]:
        return Call(
            "GET", f"{self.path}/{key}/tables/{table}/columns", _items, query({"schema": schema})
        )


class Connections(ConnectionCalls, Collection[ConnectionOut]):
    """`client.connections`: list, get, create, update, delete, and the connection's own
    requests. Passwords and secret options come back masked as `***`."""

    def test(self, key: str) -> ConnectionTestResult:
        """Reach the connection and say what a run could do there (`can_read`, `can_write`)."""
        return self._t.call(self.test_call(key))

    def tables(self, key: str) -> builtins.list[dict[str, Any]]:
        """The tables (and views) the connection holds."""
        return self._t.call(self.tables_call(key))

    def columns(
        self, key: str, table: str, schema: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """A table's columns with their types."""
        return self._t.call(self.columns_call(key, table, schema))


class AsyncConnections(ConnectionCalls, AsyncCollection[ConnectionOut]):
    """`AsyncClient.connections`: the methods of `Connections`, awaited."""

    async def test(self, key: str) -> ConnectionTestResult:
        """Reach the connection and say what a run could do there."""
        return await self._t.call(self.test_call(key))

    async def tables(self, key: str) -> builtins.list[dict[str, Any]]:
        """The tables (and views) the connection holds."""
        return await self._t.call(self.tables_call(key))

    async def columns(
        self, key: str, table: str, schema: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """A table's columns with their types."""
        return await self._t.call(self.columns_call(key, table, schema))
