"""The console's settings forms against a real `conveyor serve`: a job's every setting
reachable and saved, refusals shown next to their inputs, transformations managed from
their pages, and the runs list's filters."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from conveyor.console.jobs import INPUTS as JOB_INPUTS
from conveyor.schemas.jobs import JobFields
from tests.e2e.console_support import created_id, make_user, post_form, sign_in, wait_final
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e


def _job(server: Server, source: Path) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:6]
    src = server.client.post(
        "/api/v1/connections", json={"name": f"ssrc-{suffix}", "url": f"sqlite:///{source}"}
    ).json()
    job = server.client.post(
        "/api/v1/jobs",
        json={"name": f"sjob-{suffix}", "source_connection_id": src["id"], "export_format": "csv"},
    ).json()
    return {"id": job["id"], "name": job["name"], "source": src["id"]}


def test_every_job_setting_the_api_accepts_has_a_labelled_input(
    shared_server: Server, shared_source: Path
) -> None:
    top = {name for name in JobFields.model_fields}
    assert {item.path[0] for item in JOB_INPUTS} == top
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    job = _job(shared_server, shared_source)
    page = client.get(f"/ui/jobs/{job['id']}").text
    for item in JOB_INPUTS:
        assert f'name="{item.name}"' in page, item.name
        assert f'for="{item.id}"' in page or f'id="{item.id}"' in page, item.name
    assert "<code>deletion_behavior</code>" in page  # the API's name beside each input


def test_a_job_saved_with_its_settings(shared_server: Server, shared_source: Path) -> None:
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    job = _job(shared_server, shared_source)
    # a job's pipeline is a pipeline of its workspace, named by id or name
    pipeline = shared_server.client.post(
        "/api/v1/pipelines", json={"name": f"p-{job['name']}"}
    ).json()
    form = {
        "name": job["name"],
        "type": "standard",
        "source": job["source"],
        "export_format": "parquet",
        "cron": "0 6 * * 1",
        "schedule_enabled": "on",
        "destination_schema": "stage",
        "table_name_prefix": "raw_",
        "deletion_behavior": "soft_delete",
        "history_mode": "on",
        "verbosity": "3",
        "command_timeout": "120",
        "replicate_interval": "7",
        "replicate_interval_unit": "days",
        "replicate_start_date": "2024-01-31",
        "incremental_check_columns": "updated_at, id",
        "cdc_engine_settings.continuous": "on",
        "cdc_engine_settings.flush_interval": "2.5",
        "pre_job_event.url": "https://hooks.example.com/pre",
        "pre_job_event.secret": "s3cret",
        "pre_job_event.timeout": "10.0",
        "post_job_event.timeout": "10.0",
        "labels": "nightly, finance",
        "pipeline_id": pipeline["name"],
        "max_attempts": "3",
        "priority": "5",
        "worker_pool": "1",
    }
    saved = post_form(client, f"/ui/jobs/{job['id']}", f"/ui/jobs/{job['id']}", **form)
    assert saved.status_code == 303, saved.text
    stored = shared_server.client.get(f"/api/v1/jobs/{job['id']}").json()
    assert stored["schedule"] == {"enabled": True, "cron": "0 6 * * 1"}
    assert stored["alter_schema"] is False  # unchecked
    assert stored["history_mode"] is True
    assert stored["deletion_behavior"] == "soft_delete"
    assert stored["destination_schema"] == "stage"
    assert stored["table_name_prefix"] == "raw_"
    assert stored["verbosity"] == 3 and stored["command_timeout"] == 120
    assert stored["replicate_interval"] == 7 and stored["replicate_interval_unit"] == "days"
    assert stored["replicate_start_date"] == "2024-01-31"
    assert stored["incremental_check_columns"] == ["updated_at", "id"]
    assert stored["cdc_engine_settings"]["continuous"] is True
    assert stored["cdc_engine_settings"]["flush_interval"] == 2.5
    assert stored["pre_job_event"]["url"] == "https://hooks.example.com/pre"
    assert stored["post_job_event"] is None  # left empty: none
    assert stored["labels"] == ["nightly", "finance"]
    assert stored["pipeline_id"] == pipeline["id"]
    assert (stored["max_attempts"], stored["priority"]) == (3, 5)

    page = client.get(f"/ui/jobs/{job['id']}").text
    assert 'name="pre_job_event.secret" value="***"' in page  # shown masked
    fires = page.split('aria-labelledby="fires-heading">')[1].split("</ol>")[0]
    assert fires.count("<li>") == 5
    # Saved again as shown: the masked secret keeps the stored one.
    again = post_form(
        client,
        f"/ui/jobs/{job['id']}",
        f"/ui/jobs/{job['id']}",
        **{**form, "pre_job_event.secret": "***"},
    )
    assert again.status_code == 303, again.text


def test_a_refused_setting_is_shown_next_to_its_input(
    shared_server: Server, shared_source: Path
) -> None:
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    job = _job(shared_server, shared_source)
    refused = post_form(
        client,
        f"/ui/jobs/{job['id']}",
        f"/ui/jobs/{job['id']}",
        name=job["name"],
        source=job["source"],
        command_timeout="0",
        max_attempts="1",
        priority="0",
        worker_pool="1",
        verbosity="2",
        deletion_behavior="hard_delete",
    )
    assert refused.status_code == 422
    field = re.search(r'<input id="command_timeout"[^>]*>', refused.text)
    assert field is not None and 'aria-invalid="true"' in field.group(0)
    assert 'id="command_timeout-error" role="alert"' in refused.text
    assert 'value="0"' in field.group(0)  # what was typed stays
    stored = shared_server.client.get(f"/api/v1/jobs/{job['id']}").json()
    assert stored["command_timeout"] is None
    typo = post_form(
        client, f"/ui/jobs/{job['id']}", f"/ui/jobs/{job['id']}", name=job["name"], histroy="on"
    )
    assert typo.status_code == 422
    assert "unknown field &#39;histroy&#39;" in typo.text

    new = post_form(client, "/ui/jobs/new", "/ui/jobs/new", name="", priority="5000")
    assert new.status_code == 422
    assert 'id="priority-error"' in new.text and 'id="name-error"' in new.text
    created = post_form(
        client,
        "/ui/jobs/new",
        "/ui/jobs/new",
        name=f"new-{uuid.uuid4().hex[:6]}",
        source=job["source"],
        export_format="json",
        history_mode="on",
        max_attempts="2",
        priority="0",
        worker_pool="1",
        verbosity="2",
        deletion_behavior="skip_delete",
        query="REPLICATE [items]",
    )
    made = shared_server.client.get(f"/api/v1/jobs/{created_id(created, '/ui/jobs/')}").json()
    assert (made["history_mode"], made["deletion_behavior"]) == (True, "skip_delete")
    assert made["max_attempts"] == 2 and made["tasks_count"] == 1


def test_transformations_created_edited_run_and_deleted_from_their_pages(
    shared_server: Server, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    lake = shared_server.client.post(
        "/api/v1/connections",
        json={"name": f"tlake-{suffix}", "url": f"duckdb:///{tmp_path / 'lake.duckdb'}"},
    ).json()
    listed = client.get("/ui/transformations")
    assert listed.status_code == 200 and ">New transformation<" in listed.text
    assert 'href="/ui/transformations">Transformations<' in listed.text
    form = client.get("/ui/transformations/new").text
    for field in ("name", "connection_id", "query", "trigger_mode", "schedule_cron"):
        assert f'name="{field}"' in form, field

    refused = post_form(
        client,
        "/ui/transformations/new",
        "/ui/transformations/new",
        name=f"t-{suffix}",
        connection_id=lake["id"],
        query="",
        trigger_mode="scheduled",
        schedule_cron="",
        verbosity="2",
        max_attempts="1",
    )
    assert refused.status_code == 422
    assert 'id="query-error"' in refused.text

    created = post_form(
        client,
        "/ui/transformations/new",
        "/ui/transformations/new",
        name=f"t-{suffix}",
        connection_id=lake["id"],
        query="CREATE TABLE IF NOT EXISTS totals AS SELECT 1 AS n;\nINSERT INTO totals VALUES (2);",
        trigger_mode="scheduled",
        schedule_cron="30 2 * * *",
        verbosity="3",
        max_attempts="2",
        command_timeout="60",
    )
    item_id = created_id(created, "/ui/transformations/")
    stored = shared_server.client.get(f"/api/v1/transformations/{item_id}").json()
    assert stored["queries"] == [
        "CREATE TABLE IF NOT EXISTS totals AS SELECT 1 AS n",
        "INSERT INTO totals VALUES (2)",
    ]
    assert (stored["trigger_mode"], stored["schedule_cron"]) == ("scheduled", "30 2 * * *")
    assert (stored["verbosity"], stored["max_attempts"], stored["command_timeout"]) == (3, 2, 60)
    page = client.get(f"/ui/transformations/{item_id}").text
    fires = page.split('aria-labelledby="fires-heading">')[1].split("</ol>")[0]
    assert fires.count(" 02:30:00</li>") == 5

    saved = post_form(
        client,
        f"/ui/transformations/{item_id}",
        f"/ui/transformations/{item_id}",
        name=f"t-{suffix}",
        connection_id=lake["id"],
        query="SELECT 1;",
        trigger_mode="manual",
        verbosity="2",
        max_attempts="1",
    )
    assert saved.status_code == 303, saved.text
    stored = shared_server.client.get(f"/api/v1/transformations/{item_id}").json()
    assert (stored["queries"], stored["trigger_mode"]) == (["SELECT 1"], "manual")

    viewer = sign_in(shared_server, make_user(shared_server, "viewer"))
    seen = viewer.get(f"/ui/transformations/{item_id}").text
    assert ">Run now<" not in seen and ">Save<" not in seen and ">Delete<" not in seen
    token = re.search(r'name="csrf_token" value="([^"]+)"', seen)
    assert token is not None
    assert (
        viewer.post(f"/ui/transformations/{item_id}/run", data={"csrf_token": token[1]}).status_code
        == 403
    )
    assert (
        viewer.post(
            f"/ui/transformations/{item_id}/delete", data={"csrf_token": token[1]}
        ).status_code
        == 403
    )

    ran = post_form(client, f"/ui/transformations/{item_id}", f"/ui/transformations/{item_id}/run")
    run_id = created_id(ran, "/ui/runs/")
    assert shared_server.client.get(f"/api/v1/runs/{run_id}").json()["kind"] == "transformation"
    wait_final(client, run_id)
    assert f'href="/ui/runs/{run_id}"' in client.get("/ui/transformations").text

    deleted = post_form(
        client, f"/ui/transformations/{item_id}", f"/ui/transformations/{item_id}/delete"
    )
    assert deleted.status_code == 303
    gone = shared_server.client.get(f"/api/v1/transformations/{item_id}")
    assert gone.status_code == 404


def test_the_runs_list_filters_by_job_status_and_dates_in_the_url(
    shared_server: Server, shared_source: Path
) -> None:
    import datetime as dt

    job = _job(shared_server, shared_source)
    api = shared_server.client
    api.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [items]"})
    run = api.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 60})
    assert run.status_code in (200, 202), run.text
    run_id = run.json()["id"]
    client = sign_in(shared_server, make_user(shared_server, "viewer"))
    today = dt.datetime.now(dt.UTC).date()

    page = client.get("/ui/runs", params={"job": job["name"]})
    assert page.status_code == 200
    assert "<h1>Runs (1)</h1>" in page.text and f"/ui/runs/{run_id}" in page.text
    for label in ('for="job">Job<', 'for="status">Status<', 'for="from">From', 'for="to">To'):
        assert label in page.text
    assert f'value="{job["name"]}"' in page.text  # the filter stays in the form
    status = api.get(f"/api/v1/runs/{run_id}").json()["status"]
    same = client.get("/ui/runs", params={"job": job["name"], "status": status})
    assert "<h1>Runs (1)</h1>" in same.text
    other = "error" if status != "error" else "completed"
    assert (
        "<h1>Runs (0)</h1>"
        in client.get("/ui/runs", params={"job": job["id"], "status": other}).text
    )
    dated = {"job": job["name"], "from": today.isoformat(), "to": today.isoformat()}
    assert "<h1>Runs (1)</h1>" in client.get("/ui/runs", params=dated).text
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    later = client.get("/ui/runs", params={"job": job["name"], "from": tomorrow})
    assert "<h1>Runs (0)</h1>" in later.text
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    earlier = client.get("/ui/runs", params={"job": job["name"], "to": yesterday})
    assert "<h1>Runs (0)</h1>" in earlier.text

    bad = client.get("/ui/runs", params={"from": "31/12/2024", "job": "no-such-job-x"})
    assert bad.status_code == 422
    assert 'id="from-error" role="alert"' in bad.text and 'id="job-error"' in bad.text
    assert re.search(r'<input id="from"[^>]*aria-invalid="true"', bad.text)
