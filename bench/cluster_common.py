"""Shared set-up of the multi-process benchmarks: a PostgreSQL-backed cluster and jobs."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

FINAL = ("completed", "error", "canceled")


def small_source(path: Path, rows: int = 10) -> Path:
    """A SQLite database with a small `items` table."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany(
        "INSERT INTO items VALUES (?, ?)", [(i, f"item {i}") for i in range(1, rows + 1)]
    )
    db.commit()
    db.close()
    return path


def make_jobs(
    client: httpx.Client, source: Path, destination: str, queries: list[str], **settings: Any
) -> list[str]:
    """One job per query between a SQLite source and a destination URL."""
    src = client.post(
        "/api/v1/connections", json={"name": "bench-src", "url": f"sqlite:///{source}"}
    ).json()["id"]
    dst = client.post("/api/v1/connections", json={"name": "bench-dst", "url": destination}).json()[
        "id"
    ]
    ids = []
    for i, query in enumerate(queries):
        body = {
            "name": f"bench-{i}",
            "source_connection_id": src,
            "destination_connection_id": dst,
            "queries": [query],
            **settings,
        }
        response = client.post("/api/v1/jobs", json=body)
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


def wait_final(
    client: httpx.Client, run_ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Poll until every run is final (or the timeout passes); the final runs."""
    wanted = set(run_ids)
    final: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(final) < len(wanted) and time.monotonic() < deadline:
        for run in client.get(
            "/api/v1/runs", params={"limit": 1000, "status__in": ",".join(FINAL)}
        ).json()["items"]:
            if run["id"] in wanted:
                final[run["id"]] = run
        time.sleep(0.2)
    return final


def percentile(values: list[float], share: float) -> float:
    """The `share` percentile (0..1) of values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
