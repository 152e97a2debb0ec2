"""The real `conveyor serve` process driven over HTTP, as a user's script would."""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from tests.e2e.conftest import build_source
from tests.e2e.server import Server, running_server

PROBLEM = "application/problem+json"
SLOW_QUERY = (
    "REPLICATE [numbers] WITH RECURSIVE c(n) AS "
    "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 500000000) SELECT n, n * 2 AS twice FROM c"
)


def create(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = server.client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def setup_job(
    server: Server, source: Path, destination: Path, queries: list[str], **settings: Any
) -> dict[str, Any]:
    """Two connections, a job between them, and its tasks."""
    suffix = uuid.uuid4().hex[:6]
    src = create(
        server, "/api/v1/connections", {"name": f"src-{suffix}", "url": f"sqlite:///{source}"}
    )
    dst = create(
        server, "/api/v1/connections", {"name": f"dst-{suffix}", "url": f"duckdb:///{destination}"}
    )
    job = create(
        server,
        "/api/v1/jobs",
        {
            "name": f"job-{suffix}",
            "source_connection_id": src["id"],
            "destination_connection_id": dst["id"],
            **settings,
        },
    )
    for query in queries:
        create(server, f"/api/v1/jobs/{job['id']}/tasks", {"query": query})
    return job


def normalized(value: Any) -> str:
    """A value as comparable text: numbers without trailing zeros, NULL as empty."""
    if value is None:
        return ""
    if isinstance(value, float | Decimal) and not isinstance(value, bool):
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)


def checksum(rows: list[tuple[Any, ...]]) -> str:
    """An order-independent digest of rows, values normalised to text."""
    digest = hashlib.sha256()
    for row in sorted(tuple(normalized(v) for v in row) for row in rows):
        digest.update("\x1f".join(row).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def test_copy_flow_lands_exactly_the_source_rows(tmp_path: Path, source_db: Path) -> None:
    lake = tmp_path / "lake.duckdb"
    with running_server(tmp_path) as server:
        job = setup_job(
            server,
            source_db,
            lake,
            [
                "REPLICATE [items]",
                "REPLICATE [cheap] SELECT id, name, price FROM [items] WHERE price < 100",
            ],
        )
        run = server.client.post(f"/api/v1/jobs/{job['id']}/execute").json()
        assert run["status"] in ("pending", "in_progress")
        final = server.wait_run(run["id"])
        assert final["status"] == "completed", final
        assert final["stats"]["rows_read"] == final["stats"]["rows_written"]
        logs = server.client.get(f"/api/v1/runs/{run['id']}/logs", params={"limit": 1000}).json()
        assert any("items: replaced with 20,000 rows" in line["message"] for line in logs["items"])

    source = sqlite3.connect(source_db)
    expected_items = source.execute(
        "SELECT id, name, price, created_at, day, active, note FROM items"
    ).fetchall()
    expected_cheap = source.execute(
        "SELECT id, name, price FROM items WHERE price < 100"
    ).fetchall()
    with duckdb.connect(str(lake), read_only=True) as dest:
        items = dest.execute(
            "SELECT id, name, price, strftime(created_at, '%Y-%m-%d %H:%M:%S'), day, active::INT, note FROM items"
        ).fetchall()
        cheap = dest.execute("SELECT id, name, price FROM cheap").fetchall()
        types = dict(
            dest.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'items'"
            ).fetchall()
        )
    assert len(items) == len(expected_items) == 20_000
    assert checksum(items) == checksum([(*r[:5], int(r[5]), r[6]) for r in expected_items])
    assert len(cheap) == len(expected_cheap) and checksum(cheap) == checksum(expected_cheap)
    assert final["stats"]["rows_written"] == len(items) + len(cheap)
    assert types == {
        "id": "BIGINT",
        "name": "VARCHAR",
        "price": "DECIMAL(12,2)",
        "created_at": "TIMESTAMP",
        "day": "DATE",
        "active": "BOOLEAN",
        "note": "VARCHAR",
    }


def test_progress_and_stats_update_while_running(tmp_path: Path) -> None:
    source = build_source(tmp_path / "big.db", 1_500_000)
    with running_server(tmp_path) as server:
        job = setup_job(
            server, source, tmp_path / "lake.duckdb", ["REPLICATE [items]"], batch_size=20_000
        )
        run = server.client.post(f"/api/v1/jobs/{job['id']}/execute").json()
        seen: list[tuple[float, int]] = []
        while True:
            current = server.client.get(f"/api/v1/runs/{run['id']}").json()
            if current["status"] == "in_progress":
                seen.append((current["progress"], current["stats"]["rows_read"]))
            if current["status"] in ("completed", "error", "canceled"):
                break
            time.sleep(0.05)
        assert current["status"] == "completed", current
        midway = [(p, r) for p, r in seen if 0 < r < 1_500_000]
        assert midway, f"no intermediate progress observed: {seen[:5]}…"
        assert any(0 < p < 1 for p, _ in midway)
        assert current["progress"] == 1.0 and current["stats"]["rows_written"] == 1_500_000


def test_cancel_pending_and_running_runs(tmp_path: Path, source_db: Path) -> None:
    with running_server(tmp_path, env={"CONVEYOR_WORKERS": "1"}) as server:
        slow = setup_job(server, source_db, tmp_path / "a.duckdb", [SLOW_QUERY])
        quick = setup_job(server, source_db, tmp_path / "b.duckdb", ["REPLICATE [items]"])
        running = server.client.post(f"/api/v1/jobs/{slow['id']}/execute").json()
        deadline = time.monotonic() + 30
        while server.client.get(f"/api/v1/runs/{running['id']}").json()["stats"]["rows_read"] == 0:
            assert time.monotonic() < deadline, "the slow run never started reading"
            time.sleep(0.1)
        # The only worker is busy: a second job's run waits, and is canceled at once.
        pending = server.client.post(f"/api/v1/jobs/{quick['id']}/execute").json()
        assert pending["status"] == "pending"
        canceled = server.client.post(f"/api/v1/runs/{pending['id']}/cancel")
        assert canceled.status_code == 202 and canceled.json()["status"] == "canceled"
        # The running one goes through canceling and is canceled promptly (its grace is
        # 3 s; the bound leaves room for a loaded machine).
        asked = time.monotonic()
        canceling = server.client.post(f"/api/v1/jobs/{slow['id']}/cancel").json()
        assert canceling["status"] in ("canceling", "canceled")
        final = server.wait_run(running["id"], timeout=60)
        assert final["status"] == "canceled" and final["canceled_at"]
        assert time.monotonic() - asked < 30
        again = server.client.post(f"/api/v1/runs/{running['id']}/cancel")
        assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
        with duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True) as dest:
            leftovers = dest.execute("SELECT table_name FROM information_schema.tables").fetchall()
        assert leftovers == [], "a canceled full load leaves neither target nor staging table"


def test_error_answers_are_problems(tmp_path: Path, source_db: Path) -> None:
    with running_server(tmp_path) as server:
        job = setup_job(server, source_db, tmp_path / "lake.duckdb", ["REPLICATE [items]"])
        anonymous = httpx.get(f"{server.url}/api/v1/jobs")
        assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith(
            PROBLEM
        )

        team = create(server, "/api/v1/workspaces", {"name": "team"})
        outsider = create(
            server,
            "/api/v1/users",
            {"name": "olga", "role": "standard", "workspace_ids": [team["id"]]},
        )
        viewer = create(server, "/api/v1/users", {"name": "vera", "role": "viewer"})
        tokens = {
            u["name"]: create(server, f"/api/v1/users/{u['id']}/tokens", {})["token"]
            for u in (outsider, viewer)
        }
        across = httpx.get(
            f"{server.url}/api/v1/jobs/{job['id']}",
            headers={"Authorization": f"Bearer {tokens['olga']}"},
        )
        assert across.status_code == 404 and across.headers["content-type"].startswith(PROBLEM)
        writing = httpx.patch(
            f"{server.url}/api/v1/jobs/{job['id']}",
            json={"batch_size": 10},
            headers={"x-cdata-authtoken": tokens["vera"]},
        )
        assert writing.status_code == 403 and writing.json()["status"] == 403

        malformed = server.client.post(
            f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [x] SELEC * FROM y"}
        )
        assert malformed.status_code == 400 and malformed.json()["position"] == 14
        unknown_field = server.client.post(
            "/api/v1/jobs", json={"name": "x", "export_format": "csv", "truncate": True}
        )
        assert (
            unknown_field.status_code == 422
            and unknown_field.json()["errors"][0]["field"] == "truncate"
        )
        unknown_scheme = server.client.post(
            "/api/v1/connections", json={"name": "x", "url": "ftp://example.com/x"}
        )
        assert unknown_scheme.status_code == 422 and "ftp" in unknown_scheme.json()["detail"]
        for response in (malformed, unknown_field, unknown_scheme):
            assert response.headers["content-type"].startswith(PROBLEM)
            assert {"type", "title", "status", "detail"} <= set(response.json())


def test_first_start_prints_the_admin_token_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "first"
    with running_server(tmp_path, token=None, data_dir=data_dir) as server:
        printed = server.log_text()
        assert "Admin token (shown once" in printed
        token = printed.split("export CONVEYOR_TOKEN=")[1].split()[0]
        assert (
            httpx.get(
                f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 200
        )
    with running_server(tmp_path, token=None, data_dir=data_dir) as again:
        assert "Admin token" not in again.log_text()
        assert token not in again.log_text()
        assert (
            httpx.get(
                f"{again.url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 200
        )


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_server_on_each_metadata_store(tmp_path: Path, source_db: Path, store: str) -> None:
    from tests.services import fresh_pg_database

    if store == "sqlite":
        env: dict[str, str] = {}
        context: Any = None
    else:
        context = fresh_pg_database()
        env = {"CONVEYOR_DATABASE_URL": context.__enter__()}
    try:
        with running_server(tmp_path, env=env) as server:
            job = setup_job(server, source_db, tmp_path / "lake.duckdb", ["REPLICATE [items]"])
            done = server.client.post(
                f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 60}
            )
            assert done.status_code == 200 and done.json()["status"] == "completed", done.text
            assert done.json()["stats"]["rows_written"] == 20_000
            assert server.client.get("/readyz").json() == {"status": "ok"}
    finally:
        if context is not None:
            context.__exit__(None, None, None)


def test_a_production_server_does_not_know_the_test_connector(tmp_path: Path) -> None:
    with running_server(tmp_path, test_connectors=False) as server:
        answer = server.client.post(
            "/api/v1/connections", json={"name": "scratch", "url": "memory://scratch"}
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM)
        problem = answer.json()
        assert "unknown connection scheme 'memory'" in problem["detail"], problem
        assert problem["field"] == "url", problem
