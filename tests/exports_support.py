"""Helpers of the export tests: a typed source, export jobs, and a slow pre-job hook that
holds a run in progress for as long as a test needs."""

from __future__ import annotations

import contextlib
import http.server
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx


def build_shop(path: Path, rows: int = 50) -> Path:
    """`orders` with numbers, decimals, text, dates, timestamps and NULLs."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total DECIMAL(10,2), "
        "ordered_at TIMESTAMP, day DATE, paid BOOLEAN)"
    )
    db.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                i,
                f"cüstomer & co {i}" if i % 7 else None,
                f"{i * 1.25:.2f}",
                f"2024-01-{1 + i % 28:02d} 10:00:{i % 60:02d}",
                f"2024-02-{1 + i % 28:02d}",
                i % 2,
            )
            for i in range(1, rows + 1)
        ],
    )
    db.commit()
    db.close()
    return path


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def export_job(
    client: Any, source_url: str, fmt: str, queries: list[str], **extra: Any
) -> dict[str, Any]:
    """An export job (no destination) over a new connection to `source_url`."""
    source = client.post("/api/v1/connections", json={"name": unique("src"), "url": source_url})
    assert source.status_code == 201, source.text
    body = {
        "name": unique("export"),
        "source_connection_id": source.json()["id"],
        "export_format": fmt,
        "queries": queries,
        **extra,
    }
    job = client.post("/api/v1/jobs", json=body)
    assert job.status_code == 201, job.text
    return dict(job.json())


def wait_run(client: Any, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("completed", "error", "canceled"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish in {timeout}s: {run}")


def run_export(client: Any, job_id: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/jobs/{job_id}/execute", json={})
    assert response.status_code == 202, response.text
    return wait_run(client, response.json()["id"])


@contextlib.contextmanager
def slow_hook(limit: float = 60) -> Iterator[tuple[dict[str, Any], Callable[[], None]]]:
    """A pre-job event endpoint, and the call that lets it answer: the run waits for it
    until the test has seen what it looks at while the run is held (at most `limit` s),
    however long a loaded machine takes to get there."""
    released = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            released.wait(limit)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"cancel": false}')

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        yield {"url": url, "timeout": limit + 30}, released.set
    finally:
        released.set()
        server.shutdown()
        server.server_close()


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with that status; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["status"] == status and body["title"] and body["detail"]
    return body
