"""Pipelines on the real server (issue 20): the docs example as written, stop and continue
on error with a step that really fails, CData v2's view of `Pipeline Id`, and the CLI and
the Python client running, waiting for and canceling a pipeline."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor.client import AsyncClient, Client
from tests.e2e.readme import elsewhere, needs_curl, run_block
from tests.e2e.server import ADMIN_TOKEN, running_server
from tests.e2e.test_cli_server import as_json, conveyor
from tests.e2e.test_server import SLOW_QUERY

pytestmark = pytest.mark.e2e


def wait_pipeline_run(client: httpx.Client, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, Any] = client.get(f"/api/v1/pipeline-runs/{run_id}").json()
        if shown["status"] != "in_progress":
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


@needs_curl
def test_pipelines_run_their_steps_and_stop_or_continue_on_error(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"CONVEYOR_DEMO": "true"}) as server:
        shown = json.loads(run_block("pipelines", server.url, elsewhere(tmp_path)))
        assert shown["status"] == "completed", shown
        assert [s["status"] for s in shown["steps"]] == ["completed"]
        step_run = server.client.get(f"/api/v1/runs/{shown['steps'][0]['run_id']}").json()
        assert step_run["job_name"] == "demo-copy" and step_run["status"] == "completed"

        api = server.client
        demo = api.get("/api/v1/jobs", params={"name": "demo-copy"}).json()["items"][0]
        # A DuckDB file of its own: the two jobs run side by side under `continue`, and
        # DuckDB lets one process at a time write a file.
        warehouse = api.get(f"/api/v1/connections/{demo['destination_connection_id']}").json()
        own = api.post(
            "/api/v1/connections",
            json={
                "name": "demo-broken-lake",
                "workspace_id": "demo",
                "url": warehouse["url"].replace("warehouse.duckdb", "broken.duckdb"),
            },
        )
        assert own.status_code == 201, own.text
        failing = api.post(
            "/api/v1/jobs",
            json={
                "name": "demo-broken",
                "workspace_id": "demo",
                "source_connection_id": demo["source_connection_id"],
                "destination_connection_id": own.json()["id"],
                "queries": ["REPLICATE [nowhere] SELECT * FROM [no_such_table]"],
            },
        )
        assert failing.status_code == 201, failing.text
        stop = api.post(
            "/api/v1/pipelines",
            json={
                "name": "stops",
                "workspace_id": "demo",
                "steps": [{"job_id": "demo-broken"}, {"job_id": "demo-copy"}],
            },
        ).json()
        ended = wait_pipeline_run(
            api, api.post(f"/api/v1/pipelines/{stop['id']}/runs").json()["id"]
        )
        assert ended["status"] == "error", ended
        assert [s["status"] for s in ended["steps"]] == ["error", "skipped"]
        assert ended["steps"][1]["run_id"] is None  # demo-copy never started

        # the jobs move to a pipeline that goes on past the failure
        go_on = api.post(
            "/api/v1/pipelines",
            json={
                "name": "goes-on",
                "workspace_id": "demo",
                "on_error": "continue",
                "steps": [{"job_id": "demo-broken"}, {"job_id": "demo-copy", "depends_on": []}],
            },
        ).json()
        assert api.get(f"/api/v1/pipelines/{stop['id']}").json()["steps"] == []
        ended = wait_pipeline_run(
            api, api.post(f"/api/v1/pipelines/{go_on['id']}/runs").json()["id"]
        )
        assert ended["status"] == "completed_with_errors", ended
        assert [s["status"] for s in ended["steps"]] == ["error", "completed"]

        # CData v2 shows the job's pipeline, and refuses one that does not exist
        cdata = httpx.Client(base_url=server.url, headers=dict(api.headers))
        job = cdata.get(f"/api.rsc/v2/jobs/{demo['id']}").json()
        assert job["pipeline_id"] == go_on["id"]
        refused = cdata.put(f"/api.rsc/v2/jobs/{demo['id']}", json={"Pipeline Id": "nope"})
        assert refused.status_code == 400 and "pipeline" in refused.json()["error"]["message"]
        listed = api.get("/api/v1/pipelines", params={"workspace_id": "demo"}).json()
        assert {p["name"]: p["status"] for p in listed["items"]} == {
            "demo-nightly": "completed",
            "goes-on": "completed_with_errors",
            "stops": "error",
        }


def test_the_cli_and_the_client_run_wait_for_and_cancel_a_pipeline(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"CONVEYOR_DEMO": "true"}) as server:
        client = Client(server.url, ADMIN_TOKEN)
        demo = client.jobs.find("demo-copy")
        slow = client.jobs.create(
            name="demo-slow",
            workspace_id="demo",
            source_connection_id=demo.source_connection_id,
            destination_connection_id=demo.destination_connection_id,
            queries=[SLOW_QUERY],
        )
        client.pipelines.create(
            name="slow-first", workspace_id="demo", steps=[{"job_id": slow.id}, {"job_id": demo.id}]
        )
        started = as_json(conveyor("pipelines", "run", "slow-first", "--json", server=server))
        assert [s["status"] for s in started["steps"]] == ["pending", "waiting"]
        deadline = time.monotonic() + 60
        while client.runs.get(started["steps"][0]["run_id"]).stats.rows_read == 0:
            assert time.monotonic() < deadline, "the slow step never started reading"
            time.sleep(0.1)
        canceled = as_json(conveyor("pipelines", "cancel", "slow-first", "--json", server=server))
        assert canceled["status"] == "canceled" and canceled["id"] == started["id"]
        client.runs.get(started["steps"][0]["run_id"]).wait(timeout=60)  # stopped by its worker
        ended = client.pipelines.get_run(started["id"])
        assert [(s.status.value, s.run_id) for s in ended.steps][1] == ("skipped", None)
        assert ended.steps[0].status.value == "canceled"
        assert client.jobs.get(demo.id).status == "idle"  # demo-copy never started

        # the same pipeline, without the slow step, to its end: --wait exits 0
        client.pipelines.update("slow-first", steps=[{"job_id": demo.id}])
        waited = conveyor("pipelines", "run", "slow-first", "--wait", server=server)
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "completed" in waited.stdout and "demo-copy" in waited.stdout
        shown = conveyor("pipelines", "show", "slow-first", server=server)
        assert shown.returncode == 0 and "demo-copy" in shown.stdout, shown.stderr
        listed = as_json(conveyor("pipelines", "list", "--json", server=server))
        assert [p["name"] for p in listed["items"]] == ["slow-first"]
        assert listed["items"][0]["status"] == "completed"

        async def history() -> list[str]:
            async with AsyncClient(server.url, ADMIN_TOKEN) as aclient:
                page = await aclient.pipelines.runs("slow-first")
                return [run.status.value for run in page.items]

        assert asyncio.run(history()) == ["completed", "canceled"]
        client.close()
