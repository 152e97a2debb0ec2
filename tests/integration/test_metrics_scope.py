"""`/metrics`: label sets bounded whatever is probed, and each role sees only its workspaces."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime


@pytest.fixture
def api(settings: Settings, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """The app without workers (runs stay pending), authenticated as admin."""
    runtime = Runtime.create(settings.model_copy(update={"workers": 0}))
    runtime.migrate()
    runtime.bootstrap()
    with TestClient(create_app(runtime), headers=admin_headers) as client:
        yield client
    runtime.close()


def series(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def labels(line: str) -> str:
    return line.rsplit(" ", 1)[0]


def test_probing_random_urls_does_not_grow_the_metrics(api: TestClient) -> None:
    rng = random.Random(300)

    def probe(count: int) -> None:
        for _ in range(count):
            word = "".join(rng.choices(string.ascii_lowercase + string.digits, k=12))
            method = rng.choice(["GET", "POST", "DELETE", "PROPFIND", "BREW"])
            path = rng.choice([f"/{word}", f"/api/v1/{word}/{word}", f"/api/v1/runs/{word}"])
            api.request(method, f"{path}?q={word}")

    for method in ("GET", "POST", "DELETE", "PROPFIND", "BREW"):  # every label set, once
        for path in ("/nowhere", "/api/v1/nowhere/at-all", "/api/v1/runs/nothing"):
            api.request(method, path)
    api.get("/metrics")  # the scrape itself is a request too
    before = series(api.get("/metrics").text)
    probe(300)
    after = series(api.get("/metrics").text)
    assert len(after) == len(before), {labels(x) for x in after} - {labels(x) for x in before}
    http = [line for line in after if line.startswith("conveyor_http_request_duration_seconds")]
    routes = {line.split('route="')[1].split('"')[0] for line in http}
    assert "unmatched" in routes and "/api/v1/runs/{run_id}" in routes
    assert all("{" in route or route in ("unmatched", "/metrics") for route in routes), routes
    statuses = {line.split('status="')[1].split('"')[0] for line in http}
    assert statuses <= {"2xx", "4xx"}, statuses
    methods = {line.split('method="')[1].split('"')[0] for line in http}
    assert methods <= {"GET", "POST", "DELETE", "other"}, methods


def _token(api: TestClient, name: str, role: str, workspace_ids: list[str]) -> TestClient:
    user = api.post(
        "/api/v1/users", json={"name": name, "role": role, "workspace_ids": workspace_ids}
    )
    assert user.status_code == 201, user.text
    token = api.post(f"/api/v1/users/{user.json()['id']}/tokens", json={"name": "metrics"})
    assert token.status_code == 201, token.text
    return TestClient(api.app, headers={"Authorization": f"Bearer {token.json()['token']}"})


def _pending_run(api: TestClient, tmp_path: Path, workspace: dict[str, Any]) -> None:
    ids = []
    for end in ("src", "dst"):
        url = f"sqlite:///{tmp_path / (workspace['name'] + f'-{end}.db')}"
        name = f"{end}-{random.randrange(10**9)}"
        body = {"name": name, "url": url, "workspace_id": workspace["id"]}
        created = api.post("/api/v1/connections", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    job = api.post(
        "/api/v1/jobs",
        json={
            "name": f"copy-{random.randrange(10**9)}",
            "workspace_id": workspace["id"],
            "source_connection_id": ids[0],
            "destination_connection_id": ids[1],
            "queries": ["REPLICATE [t]"],
        },
    )
    assert job.status_code == 201, job.text
    assert api.post(f"/api/v1/jobs/{job.json()['id']}/execute").status_code in (200, 201, 202)


def test_each_role_sees_the_series_of_its_workspaces_only(api: TestClient, tmp_path: Path) -> None:
    alpha = api.post("/api/v1/workspaces", json={"name": "alpha-team"}).json()
    beta = api.post("/api/v1/workspaces", json={"name": "beta-secret-team"}).json()
    _pending_run(api, tmp_path, alpha)
    _pending_run(api, tmp_path, beta)
    _pending_run(api, tmp_path, beta)

    admin = api.get("/metrics").text
    for line in (
        f'conveyor_workspace_runs{{status="pending",workspace="{alpha["id"]}"}} 1.0',
        f'conveyor_workspace_runs{{status="pending",workspace="{beta["id"]}"}} 2.0',
        f'conveyor_workspace_info{{name="beta-secret-team",workspace="{beta["id"]}"}} 1.0',
        'conveyor_runs{status="pending"} 3.0',
        "conveyor_queue_depth 3.0",
    ):
        assert line in admin, line
    assert "conveyor_http_request_duration_seconds" in admin

    scoped = {
        "standard in alpha": _token(api, "sam", "standard", [alpha["id"]]),
        "viewer in alpha": _token(api, "vic", "viewer", [alpha["id"]]),
    }
    for who, client in scoped.items():
        text = client.get("/metrics").text
        assert f'conveyor_workspace_runs{{status="pending",workspace="{alpha["id"]}"}} 1.0' in text
        assert 'name="alpha-team"' in text, who
        for leak in (beta["id"], "beta-secret-team", "conveyor_runs{", "conveyor_queue", "_http_"):
            assert leak not in text, (who, leak)
        assert all(line.startswith("conveyor_workspace_") for line in series(text)), who

    everywhere = _token(api, "val", "viewer", [])
    text = everywhere.get("/metrics").text
    assert f'conveyor_workspace_runs{{status="pending",workspace="{beta["id"]}"}} 2.0' in text
    assert all(line.startswith("conveyor_workspace_") for line in series(text))
    assert TestClient(api.app).get("/metrics").status_code == 401


def written(client: TestClient) -> tuple[float, float]:
    """The exported rows and bytes written (Prometheus adds `_total` to a counter's name)."""
    found = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in series(client.get("/metrics").text)
    }
    return found["conveyor_rows_written_total"], found["conveyor_bytes_written_total"]


def test_rows_and_bytes_written_never_go_down_when_runs_are_deleted(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    from tests.integration.test_api import make_job

    assert written(client) == (0, 0)
    job = make_job(client, shop_db, tmp_path)
    execute = f"/api/v1/jobs/{job['id']}/execute"
    first = client.post(execute, json={"wait": True, "timeout": 60}).json()
    assert first["status"] == "completed" and first["stats"]["rows_written"] == 1000, first
    rows, size = written(client)
    assert rows == 1000 and size > 0
    assert client.delete(f"/api/v1/runs/{first['id']}").status_code == 204
    assert written(client) == (rows, size)  # the run is gone, what it wrote still counts
    second = client.post(execute, json={"wait": True, "timeout": 60}).json()
    assert second["status"] == "completed", second
    assert written(client)[0] == rows + second["stats"]["rows_written"]
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204  # with its runs
    assert written(client)[0] == rows + second["stats"]["rows_written"]
