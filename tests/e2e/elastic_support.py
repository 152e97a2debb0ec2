"""Helpers of the Elastic and JSON:API end-to-end tests: a server per module, requests."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.server import ADMIN_TOKEN, Server, running_server

VENDOR = "application/vnd.elasticsearch+json; compatible-with=9"


@contextmanager
def server(base: Path, **env: str) -> Iterator[Server]:
    """A real `conveyor serve` whose client speaks like an Elasticsearch client."""
    with running_server(base, env={f"CONVEYOR_{k.upper()}": v for k, v in env.items()}) as srv:
        srv.client.headers.update(
            {"Authorization": f"ApiKey {ADMIN_TOKEN}", "Accept": VENDOR, "Content-Type": VENDOR}
        )
        yield srv


def unique(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def source_db(path: Path, rows: int = 250) -> Path:
    """A SQLite database with one table, `orders`."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL)")
    db.executemany(
        "INSERT INTO orders VALUES (?, ?, ?)", [(i, f"c{i % 7}", i * 1.5) for i in range(rows)]
    )
    db.commit()
    db.close()
    return path


def connector(client: httpx.Client, service_type: str = "custom", **fields: Any) -> str:
    """A new connector (self-managed by default) with its own index; its id."""
    connector_id = unique()
    body = {"index_name": unique("idx"), "name": connector_id, "service_type": service_type}
    response = client.put(f"/_connector/{connector_id}", json={**body, **fields})
    assert response.status_code == 201, response.text
    return connector_id


def sync_job(client: httpx.Client, connector_id: str, job_type: str = "full") -> str:
    response = client.post("/_connector/_sync_job", json={"id": connector_id, "job_type": job_type})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def error_of(response: httpx.Response, status: int, es_type: str) -> str:
    """Assert Elasticsearch's error envelope; the reason."""
    assert response.status_code == status, response.text
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    body = response.json()
    assert body["status"] == status
    assert body["error"]["type"] == es_type, body
    assert body["error"]["root_cause"][0]["type"] == es_type
    return str(body["error"]["reason"])


def wait_status(
    client: httpx.Client, job_id: str, wanted: set[str], timeout: float = 60
) -> dict[str, Any]:
    """Poll a sync job until its status is one of `wanted`."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = client.get(f"/_connector/_sync_job/{job_id}").json()
        if doc["status"] in wanted:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"sync job {job_id} never became {wanted}: {doc}")
