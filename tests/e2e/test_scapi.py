"""Contentserv SCAPI connector jobs against the real server, as a client that only read
`contentserv-scapi-connector-jobs.txt`: start a job and keep the process id, poll the
status every so often while SyncState is 2, download the file (or the ZIP); or call the
datafeed URL with the job's external key and get the result at once."""

from __future__ import annotations

import base64
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from tests.e2e.server import ADMIN_TOKEN, Server, running_server
from tests.exports_support import build_shop, export_job, is_problem, slow_hook, unique

pytestmark = pytest.mark.e2e
SCAPI = "/admin/app/scapi"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("scapi")) as running:
        yield running


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{build_shop(tmp_path_factory.mktemp('scapi-data') / 'shop.db')}"


def start(client: httpx.Client, job: str) -> str:
    response = client.post(f"{SCAPI}/jobs/{job}/start")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["SyncState"] == 2 and body["processId"]
    return str(body["processId"])


def poll(client: httpx.Client, job: str, process: str, timeout: float = 90) -> dict[str, Any]:
    """What the reference recommends: call the status again while SyncState is 2."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"{SCAPI}/jobs/{job}/status/{process}")
        assert response.status_code == 200, response.text
        status = dict(response.json())
        if status["SyncState"] != 2:
            return status
        time.sleep(0.2)
    raise AssertionError(f"process {process} still running after {timeout}s")


def test_start_monitor_and_download_the_export_file(srv: Server, shop: str) -> None:
    es = srv.client
    key = unique("products")
    job = export_job(
        es, shop, "xlsx", ["REPLICATE [export] SELECT * FROM orders"], external_key=key
    )
    process = start(es, key)
    status = poll(es, key, process)
    assert status["SyncState"] == 1 and status["status"] == "completed" and status["error"] is None
    assert status["processId"] == process and status["jobId"] == job["id"]
    assert status["completedAt"] and status["progress"] == 1.0
    assert [f["filename"] for f in status["files"]] == ["export.xlsx"]
    response = es.get(f"{SCAPI}/jobs/{key}/download/{process}")
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == 'attachment; filename="export.xlsx"'
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.values)
    assert rows[0][:3] == ("id", "customer", "total") and len(rows) == 51
    assert rows[1][:3] == (1, "cüstomer & co 1", 1.25)
    # The job's id names it as well as its external key.
    assert es.get(f"{SCAPI}/jobs/{job['id']}/download/{process}").content == response.content


def test_several_result_files_come_as_a_zip(srv: Server, shop: str) -> None:
    es = srv.client
    job = export_job(
        es,
        shop,
        "csv",
        ["REPLICATE [orders]", "REPLICATE [paid] SELECT id, total FROM orders WHERE paid = 1"],
    )
    process = start(es, job["id"])
    assert poll(es, job["id"], process)["SyncState"] == 1
    response = es.get(f"{SCAPI}/jobs/{job['id']}/download/{process}")
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f'attachment; filename="{job["name"]}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["orders.csv", "paid.csv"]
    assert archive.read("paid.csv").decode().splitlines()[0] == '"id","total"'
    assert len(archive.read("paid.csv").decode().splitlines()) == 26


def test_datafeed_answers_the_result_of_a_run_it_starts(srv: Server, shop: str) -> None:
    es = srv.client
    key = unique("feed")
    export_job(es, shop, "xlsx", ["REPLICATE [export] SELECT * FROM orders"], external_key=key)
    response = es.get(f"{SCAPI}/datafeed/synchron/{key}/")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert len(list(openpyxl.load_workbook(io.BytesIO(response.content)).active.values)) == 51
    runs = es.get("/api/v1/runs", params={"trigger_method": "datafeed"}).json()["items"]
    assert any(r["job_name"].startswith("export-") for r in runs)
    several = unique("feed")
    export_job(
        es,
        shop,
        "json",
        ["REPLICATE [a] SELECT * FROM orders", "REPLICATE [b] SELECT id FROM orders"],
        external_key=several,
    )
    many = es.get(f"{SCAPI}/datafeed/synchron/{several}")
    assert many.headers["content-type"] == "application/zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(many.content)).namelist()) == ["a.json", "b.json"]


def test_unknown_jobs_and_processes_are_not_found(srv: Server, shop: str) -> None:
    es = srv.client
    job = export_job(es, shop, "csv", ["REPLICATE [orders]"])
    other = export_job(es, shop, "csv", ["REPLICATE [orders]"])
    process = start(es, job["id"])
    poll(es, job["id"], process)
    is_problem(es.post(f"{SCAPI}/jobs/no-such-job/start"), 404)
    is_problem(es.get(f"{SCAPI}/jobs/no-such-job/status/{process}"), 404)
    is_problem(es.get(f"{SCAPI}/jobs/{job['id']}/status/no-such-process"), 404)
    is_problem(es.get(f"{SCAPI}/jobs/{other['id']}/status/{process}"), 404)
    is_problem(es.get(f"{SCAPI}/jobs/{other['id']}/download/{process}"), 404)
    is_problem(es.get(f"{SCAPI}/datafeed/synchron/no-such-key/"), 404)


def test_download_before_the_process_is_done_is_a_conflict(srv: Server, shop: str) -> None:
    es = srv.client
    with slow_hook() as (hook, release):
        job = export_job(es, shop, "csv", ["REPLICATE [orders]"], pre_job_event=hook)
        process = start(es, job["id"])
        status = es.get(f"{SCAPI}/jobs/{job['id']}/status/{process}").json()
        assert status["SyncState"] == 2 and status["files"] == []
        body = is_problem(es.get(f"{SCAPI}/jobs/{job['id']}/download/{process}"), 409)
        assert process in body["detail"]
        busy = is_problem(es.post(f"{SCAPI}/jobs/{job['id']}/start"), 409)
        assert busy["active_run_id"] == process
        release()
        assert poll(es, job["id"], process)["SyncState"] == 1
    assert es.get(f"{SCAPI}/jobs/{job['id']}/download/{process}").status_code == 200


def test_a_failed_process_is_sync_state_3_with_its_error(srv: Server, shop: str) -> None:
    es = srv.client
    key = unique("broken")
    job = export_job(es, shop, "csv", ["REPLICATE [nowhere]"], external_key=key)
    process = start(es, key)
    status = poll(es, key, process)
    assert status["SyncState"] == 3 and status["status"] == "error"
    assert "nowhere" in status["error"]
    body = is_problem(es.get(f"{SCAPI}/jobs/{job['id']}/download/{process}"), 409)
    assert "nowhere" in body["detail"]
    failed = is_problem(es.get(f"{SCAPI}/datafeed/synchron/{key}/"), 502)
    assert "nowhere" in failed["detail"] and failed["processId"]


def test_every_way_to_authenticate(srv: Server, shop: str) -> None:
    job = export_job(srv.client, shop, "csv", ["REPLICATE [orders]"])
    basic = base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode()
    for headers in (
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        {"x-cdata-authtoken": ADMIN_TOKEN},
        {"Authorization": f"Basic {basic}"},
    ):
        with httpx.Client(base_url=srv.url, headers=headers, timeout=60) as client:
            process = start(client, job["id"])
            poll(client, job["id"], process)
    with httpx.Client(base_url=srv.url, timeout=60) as anonymous:
        is_problem(anonymous.post(f"{SCAPI}/jobs/{job['id']}/start"), 401)
        is_problem(anonymous.get(f"{SCAPI}/datafeed/synchron/{job['id']}/"), 401)


def test_a_datafeed_past_its_limit_answers_504_and_the_run_goes_on(
    tmp_path: Path, shop: str
) -> None:
    env = {"CONVEYOR_DATAFEED_TIMEOUT": "1"}
    with running_server(tmp_path, env=env) as short, slow_hook() as (hook, release):
        es = short.client
        key = unique("slow")
        export_job(es, shop, "csv", ["REPLICATE [orders]"], external_key=key, pre_job_event=hook)
        body = is_problem(es.get(f"{SCAPI}/datafeed/synchron/{key}/"), 504)
        process = body["processId"]
        assert "still running" in body["detail"] and body["statusUrl"].endswith(process)
        release()
        status = poll(es, key, process)
        assert status["SyncState"] == 1 and status["triggerMethod"] == "datafeed"
        response = es.get(f"{SCAPI}/jobs/{key}/download/{process}")
        assert response.status_code == 200 and response.content.startswith(b'"id"')
