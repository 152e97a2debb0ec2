"""The console's pipeline pages against a real `conveyor serve`: the list and a
pipeline's page read as the API does, Run now runs it to the end, Cancel stops a run under
way, and a viewer's or a CSRF-less post is refused whatever the page showed."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.console_support import browser, csrf_of, make_user, post_form, sign_in
from tests.e2e.server import Server
from tests.e2e.test_server import SLOW_QUERY

pytestmark = pytest.mark.e2e


def _api(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = server.client.post(path, json=body)
    assert response.status_code in (201, 202), response.text
    found: dict[str, Any] = response.json()
    return found


def _jobs(server: Server, source: Path, tmp_path: Path, queries: list[list[str]]) -> list[str]:
    """One job per entry of `queries` (each its own destination); their ids."""
    suffix = uuid.uuid4().hex[:6]
    src = _api(
        server, "/api/v1/connections", {"name": f"psrc-{suffix}", "url": f"sqlite:///{source}"}
    )
    made = []
    for index, statements in enumerate(queries):
        target = tmp_path / f"{suffix}-{index}.duckdb"
        dst = _api(
            server,
            "/api/v1/connections",
            {"name": f"pdst-{suffix}-{index}", "url": f"duckdb:///{target}"},
        )
        job = _api(
            server,
            "/api/v1/jobs",
            {
                "name": f"pjob-{suffix}-{index}",
                "source_connection_id": src["id"],
                "destination_connection_id": dst["id"],
                "queries": statements,
            },
        )
        made.append(str(job["id"]))
    return made


def _pipeline(
    server: Server, source: Path, tmp_path: Path, queries: list[list[str]], **fields: Any
) -> dict[str, Any]:
    """A pipeline of one job per entry of `queries`, in order."""
    steps = [{"job_id": job_id} for job_id in _jobs(server, source, tmp_path, queries)]
    name = f"pipe-{uuid.uuid4().hex[:6]}"
    return _api(server, "/api/v1/pipelines", {"name": name, "steps": steps, **fields})


def _wait_runs(client: httpx.Client, pipeline_id: str, timeout: float = 120) -> str:
    """Poll the pipeline's runs part (as htmx does) until it no longer polls; its HTML."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        part = client.get(f"/ui/pipelines/{pipeline_id}/runs", headers={"HX-Request": "true"})
        assert part.status_code == 200, part.text
        if "hx-trigger" not in part.text:
            return part.text
        time.sleep(0.2)
    raise AssertionError(f"pipeline {pipeline_id} still had a run under way after {timeout}s")


def test_pipelines_listed_shown_and_run_now_to_the_end(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    pipeline = _pipeline(
        shared_server,
        shared_source,
        tmp_path,
        [["REPLICATE [items]"], ["REPLICATE [items]"]],
        on_error="continue",
        schedule={"enabled": True, "cron": "0 3 * * *"},
    )
    first, second = (step["job_id"] for step in pipeline["steps"])
    client = sign_in(shared_server, make_user(shared_server, "standard"))
    assert 'href="/ui/pipelines">Pipelines<' in client.get("/ui/").text

    listed = client.get("/ui/pipelines")
    assert listed.status_code == 200
    row = listed.text.split(f'href="/ui/pipelines/{pipeline["id"]}">')[1].split("</tr>")[0]
    assert pipeline["name"] in row and '<td class="num">2</td>' in row
    assert "<code>0 3 * * *</code>" in row and "status-idle" in row
    assert re.search(r"<td>\d{4}-\d\d-\d\d 03:00:00</td>", row)

    page = client.get(f"/ui/pipelines/{pipeline['id']}")
    assert page.status_code == 200
    steps = page.text.split('<ol class="steps">')[1].split("</ol>")[0]
    assert steps.index(f'href="/ui/jobs/{first}"') < steps.index(f'href="/ui/jobs/{second}"')
    assert "starts at once" in steps and steps.count(f'href="/ui/jobs/{first}"') == 2  # and after
    assert "On error: continue" in page.text
    fires = page.text.split('aria-labelledby="fires-heading">')[1].split("</ol>")[0]
    assert fires.count("03:00:00</li>") == 5
    assert ">Run now</button>" in page.text and ">Cancel</button>" not in page.text
    assert "No runs yet." in page.text

    started = post_form(
        client, f"/ui/pipelines/{pipeline['id']}", f"/ui/pipelines/{pipeline['id']}/run"
    )
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    assert location.startswith(f"/ui/pipelines/{pipeline['id']}#run-")
    run_id = location.split("#run-")[1]
    part = _wait_runs(client, pipeline["id"])
    shown = shared_server.client.get(f"/api/v1/pipeline-runs/{run_id}").json()
    assert shown["status"] == "completed", shown
    assert f'id="run-{run_id}"' in part
    assert part.count("status-completed") == 3  # the pipeline run and its two steps
    for step in shown["steps"]:
        assert f'href="/ui/runs/{step["run_id"]}"' in part
        assert client.get(f"/ui/runs/{step['run_id']}").status_code == 200
    assert "status-completed" in client.get("/ui/pipelines").text.split(pipeline["name"])[1]


def test_cancel_stops_the_run_under_way(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    pipeline = _pipeline(
        shared_server, shared_source, tmp_path, [[SLOW_QUERY], ["REPLICATE [items]"]]
    )
    client = sign_in(shared_server, make_user(shared_server, "standard"))
    page_path = f"/ui/pipelines/{pipeline['id']}"
    started = post_form(client, page_path, f"{page_path}/run")
    run_id = started.headers["location"].split("#run-")[1]
    page = client.get(page_path)
    assert ">Cancel</button>" in page.text
    assert f'hx-get="{page_path}/runs"' in page.text  # the runs part follows the run
    again = client.post(f"{page_path}/run", data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 409 and run_id in again.text
    canceled = client.post(f"{page_path}/cancel", data={"csrf_token": csrf_of(page.text)})
    assert canceled.status_code == 303, canceled.text
    part = _wait_runs(client, pipeline["id"])
    shown = shared_server.client.get(f"/api/v1/pipeline-runs/{run_id}").json()
    assert shown["status"] == "canceled", shown
    assert shown["steps"][1]["status"] == "skipped"
    assert "status-canceled" in part and "status-skipped" in part
    assert ">Cancel</button>" not in client.get(page_path).text


def test_a_viewer_sees_no_buttons_and_is_refused_anyway(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    pipeline = _pipeline(shared_server, shared_source, tmp_path, [["REPLICATE [items]"]])
    viewer = sign_in(shared_server, make_user(shared_server, "viewer"))
    page = viewer.get(f"/ui/pipelines/{pipeline['id']}")
    assert page.status_code == 200
    assert pipeline["name"] in viewer.get("/ui/pipelines").text
    for hidden in (">Run now<", ">Cancel<"):
        assert hidden not in page.text
    token = csrf_of(page.text)  # the sign-out form's: a viewer's session has one too
    for action in ("run", "cancel"):
        refused = viewer.post(
            f"/ui/pipelines/{pipeline['id']}/{action}", data={"csrf_token": token}
        )
        assert refused.status_code == 403
        assert "viewers can only read" in refused.text
    history = shared_server.client.get(f"/api/v1/pipelines/{pipeline['id']}/runs").json()
    assert history["total"] == 0


def test_a_post_without_its_csrf_token_is_refused(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    pipeline = _pipeline(shared_server, shared_source, tmp_path, [["REPLICATE [items]"]])
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    action = f"/ui/pipelines/{pipeline['id']}/run"
    assert client.post(action, data={}).status_code == 403
    assert client.post(action, data={"csrf_token": "forged"}).status_code == 403
    other = sign_in(shared_server, make_user(shared_server, "admin"))
    foreign = csrf_of(other.get(f"/ui/pipelines/{pipeline['id']}").text)
    assert client.post(action, data={"csrf_token": foreign}).status_code == 403
    assert browser(shared_server).post(action, data={"csrf_token": foreign}).status_code == 303
    history = shared_server.client.get(f"/api/v1/pipelines/{pipeline['id']}/runs").json()
    assert history["total"] == 0


def test_a_missing_pipeline_is_not_found(shared_server: Server) -> None:
    client = sign_in(shared_server, make_user(shared_server, "standard"))
    assert client.get("/ui/pipelines/no-such-pipeline").status_code == 404
    assert client.get("/ui/pipelines/no-such-pipeline/runs").status_code == 404


def test_new_and_edit_forms_with_refusals_at_their_inputs(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    first, second, third = _jobs(
        shared_server, shared_source, tmp_path, [["REPLICATE [items]"]] * 3
    )
    first_name, third_name = (
        shared_server.client.get(f"/api/v1/jobs/{job_id}").json()["name"]
        for job_id in (first, third)
    )
    client = sign_in(shared_server, make_user(shared_server, "standard"))
    assert ">New pipeline<" in client.get("/ui/pipelines").text
    form = client.get("/ui/pipelines/new")
    assert 'list="pipeline-jobs"' in form.text and f'<option value="{first_name}">' in form.text
    for label in ('for="name">Name<', 'for="on_error">On error<', 'for="step_0">Step 1<'):
        assert label in form.text
    assert 'for="step_2">Step 3<' in form.text  # three empty steps to choose
    token = csrf_of(form.text)
    name = f"formed-{uuid.uuid4().hex[:6]}"
    chosen = {"step_0": first, "step_1": first, "step_2": ""}
    refused = client.post(
        "/ui/pipelines/new",
        data={"csrf_token": token, "name": name, "on_error": "continue", "cron": "", **chosen},
    )
    assert refused.status_code == 422, refused.text
    step_1 = refused.text.split('id="step_1"')[1].split("</div>")[0]
    assert 'aria-invalid="true"' in step_1 and "already a step" in step_1
    assert f'value="{first}"' in step_1  # what was chosen stays
    assert f'value="{name}"' in refused.text
    nameless = client.post("/ui/pipelines/new", data={"csrf_token": token, "name": "", **chosen})
    assert nameless.status_code == 422
    assert 'id="name-error" role="alert"' in nameless.text
    assert shared_server.client.get("/api/v1/pipelines", params={"name": name}).json()["total"] == 0

    created = client.post(
        "/ui/pipelines/new",
        data={
            "csrf_token": token,
            "name": name,
            "on_error": "continue",
            "schedule_enabled": "on",
            "cron": "30 2 * * *",
            "step_0": second,
            "step_1": "",
            "step_2": first,
        },
    )
    assert created.status_code == 303, created.text
    pipeline_id = created.headers["location"].removeprefix("/ui/pipelines/")
    stored = shared_server.client.get(f"/api/v1/pipelines/{pipeline_id}").json()
    assert [s["job_id"] for s in stored["steps"]] == [second, first]
    assert stored["on_error"] == "continue"
    assert stored["schedule"] == {"enabled": True, "cron": "30 2 * * *"}

    # the API makes the second step start at once; the form keeps that for a step that stays
    shared_server.client.patch(
        f"/api/v1/pipelines/{pipeline_id}",
        json={"steps": [{"job_id": second}, {"job_id": first, "depends_on": []}]},
    )
    page = client.get(f"/ui/pipelines/{pipeline_id}")
    assert page.text.count('">Step ') == 5  # two steps and three spare
    saved = client.post(
        f"/ui/pipelines/{pipeline_id}",
        data={
            "csrf_token": csrf_of(page.text),
            "name": name,
            "on_error": "stop",
            "cron": "",
            "step_0": first,
            "step_1": third_name,  # a job by its name, as the suggestions offer it
            "step_2": second,
            "step_3": "",
            "step_4": "",
        },
    )
    assert saved.status_code == 303, saved.text
    stored = shared_server.client.get(f"/api/v1/pipelines/{pipeline_id}").json()
    assert [(s["job_id"], s["depends_on"]) for s in stored["steps"]] == [
        (first, []),
        (third, [first]),
        (second, [third]),
    ]
    assert stored["on_error"] == "stop" and stored["schedule"]["enabled"] is False
    bad = client.post(
        f"/ui/pipelines/{pipeline_id}",
        data={"csrf_token": csrf_of(page.text), "name": name, "step_0": "no-such-job"},
    )
    assert bad.status_code == 422
    assert "not found in the pipeline" in bad.text.split('id="step_0"')[1].split("</div>")[0]

    viewer = sign_in(shared_server, make_user(shared_server, "viewer"))
    shown = viewer.get(f"/ui/pipelines/{pipeline_id}")
    assert ">Save</button>" not in shown.text and 'id="step_0" name="step_0"' in shown.text
    assert 'name="step_0" value="' + first_name + '"' in shown.text  # shown by name
    assert ">New pipeline<" not in viewer.get("/ui/pipelines").text
    forced = viewer.post(
        f"/ui/pipelines/{pipeline_id}",
        data={"csrf_token": csrf_of(shown.text), "name": "renamed", "step_0": first},
    )
    assert forced.status_code == 403
    assert shared_server.client.get(f"/api/v1/pipelines/{pipeline_id}").json()["name"] == name
