"""A connection shows what its connector's class implements, and jobs are checked against it.

A plugin connector that can only read is registered for the test: its connections show
`["read"]`, and a job that would write into one is refused up front.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from conveyor.connectors import registry
from conveyor.connectors.base import TableRef
from conveyor.connectors.registry import ConnectorSpec


class ReadOnlyConnector:
    """A feed that can be read and nothing else."""

    dialect = "duckdb"

    def __init__(self, url: str, options: Any = None, *, reach: Any = None) -> None:
        self.url = url

    def test(self) -> None:
        """Always reachable."""

    def close(self) -> None:
        """Nothing to release."""

    def read(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(pa.schema([("n", pa.int64())]), iter(()))

    def table_exists(self, table: TableRef) -> bool:
        return True


READ_ONLY = ConnectorSpec(
    name="readonly",
    schemes=("readonly",),
    implementation=f"{__name__}:ReadOnlyConnector",
    description="A feed for tests: read only.",
)


@pytest.fixture
def read_only_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_plugin_specs", lambda: [READ_ONLY])
    registry._all_specs.cache_clear()
    yield
    registry._all_specs.cache_clear()


def test_capabilities_are_the_connectors_own_and_jobs_respect_them(
    read_only_plugin: None, client: TestClient, shop_db: Path
) -> None:
    feed = client.post("/api/v1/connections", json={"name": "feed", "url": "readonly://feed"})
    assert feed.status_code == 201, feed.text
    assert feed.json()["capabilities"] == ["read"]
    shop = client.post("/api/v1/connections", json={"name": "shop", "url": f"sqlite:///{shop_db}"})
    assert shop.json()["capabilities"] == ["discover", "merge", "read", "write"]
    listed = {
        c["name"]: c["capabilities"] for c in client.get("/api/v1/connections").json()["items"]
    }
    assert listed == {"feed": ["read"], "shop": ["discover", "merge", "read", "write"]}

    def job(name: str, source: dict[str, Any], destination: dict[str, Any]) -> Any:
        body = {
            "name": name,
            "source_connection_id": source["id"],
            "destination_connection_id": destination["id"],
            "queries": ["REPLICATE [orders]"],
        }
        return client.post("/api/v1/jobs", json=body)

    into_feed = job("into-feed", shop.json(), feed.json())
    assert into_feed.status_code == 422, into_feed.text
    assert into_feed.json()["field"] == "destination_connection_id"
    assert "cannot write" in into_feed.json()["detail"]
    from_feed = job("from-feed", feed.json(), shop.json())
    assert from_feed.status_code == 201, from_feed.text
