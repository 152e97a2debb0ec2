"""Pipelines (issue 20): order, stop and continue on error, cancel, schedule, visibility.

Most tests run the app without workers and play the worker themselves through the queue
(`claim`, then `finish` with the outcome the test wants), so which step fails, and when,
is the test's choice; one runs real workers end to end.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.domain import RunStatus
from conveyor.engine.reporting import RunOutcome
from conveyor.runtime import Runtime
from conveyor.scheduler.cron import latest_fire
from conveyor.store.models import Pipeline

PROBLEM = "application/problem+json"


@pytest.fixture
def idle(runtime: Runtime, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """The app without workers: runs wait until the test plays the worker."""
    with TestClient(create_app(runtime, workers=False), headers=admin_headers) as api:
        yield api


def make_jobs(api: TestClient, shop_db: Path, tmp_path: Path, *names: str) -> dict[str, str]:
    """Jobs copying the shop's orders into a lake each: name -> id."""
    source = api.post("/api/v1/connections", json={"name": "shop", "url": f"sqlite:///{shop_db}"})
    assert source.status_code == 201, source.text
    made = {}
    for name in names:
        lake = api.post(
            "/api/v1/connections",
            json={"name": f"lake-{name}", "url": f"duckdb:///{tmp_path / f'{name}.duckdb'}"},
        )
        assert lake.status_code == 201, lake.text
        job = api.post(
            "/api/v1/jobs",
            json={
                "name": name,
                "source_connection_id": source.json()["id"],
                "destination_connection_id": lake.json()["id"],
                "queries": ["REPLICATE [orders]"],
            },
        )
        assert job.status_code == 201, job.text
        made[name] = job.json()["id"]
    return made


def make_pipeline(api: TestClient, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    created = api.post("/api/v1/pipelines", json={"name": "nightly", "steps": steps, **extra})
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def play(runtime: Runtime, outcomes: Mapping[str, RunStatus]) -> list[str]:
    """Be the worker: claim every runnable run and end it as `outcomes` says for its job;
    the job ids in the order their runs were claimed."""
    played = []
    while (claimed := runtime.queue.claim("test-worker", "test-host")) is not None:
        status = outcomes[claimed.job_id or ""]
        error = "boom" if status is RunStatus.error else None
        runtime.queue.finish(claimed.id, "test-worker", RunOutcome(status=status, error=error))
        played.append(claimed.job_id or "")
    return played


def steps_of(api: TestClient, pipeline_run_id: str) -> dict[str, str]:
    found = api.get(f"/api/v1/pipeline-runs/{pipeline_run_id}")
    assert found.status_code == 200, found.text
    return {step["job_name"]: step["status"] for step in found.json()["steps"]}


def test_steps_start_in_order_each_after_the_one_before_completed(
    runtime: Runtime, idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    jobs = make_jobs(idle, shop_db, tmp_path, "a", "b", "c")
    pipeline = make_pipeline(idle, [{"job_id": "a"}, {"job_id": jobs["b"]}, {"job_id": "c"}])
    assert [s["depends_on"] for s in pipeline["steps"]] == [[], [jobs["a"]], [jobs["b"]]]
    assert pipeline["status"] == "idle" and pipeline["last_run"] is None
    started = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs")
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/api/v1/pipeline-runs/{started.json()['id']}"
    run_id = started.json()["id"]
    assert steps_of(idle, run_id) == {"a": "pending", "b": "waiting", "c": "waiting"}
    again = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs")
    assert again.status_code == 409 and again.json()["active_pipeline_run_id"] == run_id
    completed = dict.fromkeys(jobs.values(), RunStatus.completed)
    # One step at a time: each claim finds only the step whose predecessor completed.
    order = []
    for expected in ("a", "b", "c"):
        claimed = runtime.queue.claim("w", "h")
        assert claimed is not None and claimed.job_id == jobs[expected]
        assert runtime.queue.claim("w", "h") is None  # nothing else is runnable yet
        runtime.queue.finish(claimed.id, "w", RunOutcome(status=RunStatus.completed))
        order.append(expected)
    assert play(runtime, completed) == []
    shown = idle.get(f"/api/v1/pipeline-runs/{run_id}").json()
    assert shown["status"] == "completed" and shown["completed_at"] is not None
    assert [s["status"] for s in shown["steps"]] == ["completed"] * 3
    run_ids = [s["run_id"] for s in shown["steps"]]
    runs = [idle.get(f"/api/v1/runs/{r}").json() for r in run_ids]
    assert [r["job_id"] for r in runs] == [jobs["a"], jobs["b"], jobs["c"]]
    for before, after in itertools.pairwise(runs):
        assert after["created_at"] >= before["completed_at"]  # B queued only once A was done
    # Status and history, like a job's.
    got = idle.get(f"/api/v1/pipelines/{pipeline['id']}").json()
    assert got["status"] == "completed" and got["last_run"]["id"] == run_id
    history = idle.get(f"/api/v1/pipelines/{pipeline['id']}/runs").json()
    assert history["total"] == 1 and history["items"][0]["steps"][1]["run_id"] == run_ids[1]
    listed = idle.get("/api/v1/pipeline-runs", params={"status": "completed"}).json()
    assert [item["id"] for item in listed["items"]] == [run_id]


def test_stop_on_error_skips_the_rest_and_fails(
    runtime: Runtime, idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    jobs = make_jobs(idle, shop_db, tmp_path, "a", "b", "c")
    pipeline = make_pipeline(idle, [{"job_id": j} for j in ("a", "b", "c")])
    run_id = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()["id"]
    outcomes = {jobs["a"]: RunStatus.error}
    assert play(runtime, outcomes) == [jobs["a"]]
    shown = idle.get(f"/api/v1/pipeline-runs/{run_id}").json()
    assert shown["status"] == "error" and "'a'" in shown["error"]
    assert steps_of(idle, run_id) == {"a": "error", "b": "skipped", "c": "skipped"}
    assert shown["steps"][0]["error"] == "boom" and shown["steps"][1]["run_id"] is None
    assert idle.get(f"/api/v1/pipelines/{pipeline['id']}").json()["status"] == "error"


def test_stop_on_error_lets_a_parallel_step_finish_and_starts_nothing(
    runtime: Runtime, idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    jobs = make_jobs(idle, shop_db, tmp_path, "a", "b", "c")
    steps = [{"job_id": "a"}, {"job_id": "b", "depends_on": []}, {"job_id": "c"}]
    pipeline = make_pipeline(idle, steps)
    run_id = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()["id"]
    assert steps_of(idle, run_id) == {"a": "pending", "b": "pending", "c": "waiting"}
    first = runtime.queue.claim("w", "h")
    second = runtime.queue.claim("w", "h")
    assert first is not None and second is not None
    failing, other = (first, second) if first.job_id == jobs["a"] else (second, first)
    runtime.queue.finish(failing.id, "w", RunOutcome(status=RunStatus.error, error="x"))
    shown = idle.get(f"/api/v1/pipeline-runs/{run_id}").json()
    assert shown["status"] == "in_progress"  # b is still running
    assert steps_of(idle, run_id) == {"a": "error", "b": "in_progress", "c": "skipped"}
    runtime.queue.finish(other.id, "w", RunOutcome(status=RunStatus.completed))
    assert idle.get(f"/api/v1/pipeline-runs/{run_id}").json()["status"] == "error"
    assert runtime.queue.claim("w", "h") is None


def test_continue_on_error_skips_only_the_dependents(
    runtime: Runtime, idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    jobs = make_jobs(idle, shop_db, tmp_path, "a", "b", "c", "d", "e")
    steps = [
        {"job_id": "a"},
        {"job_id": "b", "depends_on": []},
        {"job_id": "c", "depends_on": ["a"]},
        {"job_id": "d", "depends_on": ["b"]},
        {"job_id": "e", "depends_on": ["c"]},  # through c, e depends on the failing a too
    ]
    pipeline = make_pipeline(idle, steps, on_error="continue")
    run_id = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()["id"]
    outcomes = {**dict.fromkeys(jobs.values(), RunStatus.completed), jobs["a"]: RunStatus.error}
    assert sorted(play(runtime, outcomes)) == sorted([jobs["a"], jobs["b"], jobs["d"]])
    assert steps_of(idle, run_id) == {
        "a": "error",
        "b": "completed",
        "c": "skipped",
        "d": "completed",
        "e": "skipped",
    }
    assert idle.get(f"/api/v1/pipeline-runs/{run_id}").json()["status"] == "completed_with_errors"


def test_cancel_cancels_the_running_step_and_starts_nothing_more(
    runtime: Runtime, idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    jobs = make_jobs(idle, shop_db, tmp_path, "a", "b", "c")
    steps = [{"job_id": "a"}, {"job_id": "b", "depends_on": []}, {"job_id": "c"}]
    pipeline = make_pipeline(idle, steps)
    run_id = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()["id"]
    running = runtime.queue.claim("w", "h")  # a or b is running, the other one waits
    assert running is not None
    canceled = idle.post(f"/api/v1/pipeline-runs/{run_id}/cancel")
    assert canceled.status_code == 202, canceled.text
    assert canceled.json()["status"] == "canceled" and canceled.json()["canceled_at"]
    runs = {s["job_name"]: s["run_id"] for s in canceled.json()["steps"]}
    statuses = {n: idle.get(f"/api/v1/runs/{r}").json()["status"] for n, r in runs.items() if r}
    name = next(n for n, job_id in jobs.items() if job_id == running.job_id)
    assert statuses[name] == "canceling"  # the worker stops it within seconds
    assert list(statuses.values()).count("canceled") == 1  # the pending one, at once
    runtime.queue.finish(running.id, "w", RunOutcome(status=RunStatus.canceled))
    assert runtime.queue.claim("w", "h") is None  # nothing further starts
    shown = steps_of(idle, run_id)
    assert shown["c"] == "skipped" and shown["a"] == shown["b"] == "canceled"
    again = idle.post(f"/api/v1/pipeline-runs/{run_id}/cancel")
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
    assert idle.post(f"/api/v1/pipelines/{pipeline['id']}/cancel").status_code == 409
    # the pipeline can run again, and its own cancel route cancels that run
    rerun = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()
    by_pipeline = idle.post(f"/api/v1/pipelines/{pipeline['id']}/cancel")
    assert by_pipeline.status_code == 202 and by_pipeline.json()["id"] == rerun["id"]
    assert set(steps_of(idle, rerun["id"]).values()) == {"canceled", "skipped"}


def test_a_schedule_fires_a_pipeline_run_once_per_tick(
    runtime: Runtime, idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    make_jobs(idle, shop_db, tmp_path, "a", "b")
    pipeline = make_pipeline(
        idle, [{"job_id": "a"}, {"job_id": "b"}], schedule={"enabled": True, "cron": "* * * * *"}
    )
    now = dt.datetime.now(dt.UTC)
    next_tick = latest_fire("* * * * *", now) + dt.timedelta(minutes=1)
    assert pipeline["next_run_at"] is not None
    assert dt.datetime.fromisoformat(pipeline["next_run_at"].replace("Z", "+00:00")) == next_tick
    scheduler = runtime.scheduler()
    assert scheduler.tick(next_tick - dt.timedelta(minutes=1, seconds=-1)) == []  # before it
    fired = scheduler.tick(next_tick + dt.timedelta(seconds=1))
    assert len(fired) == 1
    shown = idle.get(f"/api/v1/pipeline-runs/{fired[0]}").json()
    assert shown["trigger_method"] == "scheduled" and shown["pipeline_id"] == pipeline["id"]
    assert scheduler.tick(next_tick + dt.timedelta(seconds=2)) == []  # the tick is taken
    # the next tick finds the pipeline still running: skipped, not a second run
    assert scheduler.tick(next_tick + dt.timedelta(minutes=1, seconds=1)) == []
    assert idle.get(f"/api/v1/pipelines/{pipeline['id']}/runs").json()["total"] == 1
    disabled = idle.patch(
        f"/api/v1/pipelines/{pipeline['id']}", json={"schedule": {"enabled": False, "cron": ""}}
    )
    assert disabled.status_code == 200 and disabled.json()["next_run_at"] is None
    with runtime.unit() as ctx:
        assert ctx.session.get(Pipeline, pipeline["id"]).schedule_enabled is False


def test_a_job_pipeline_id_must_name_a_pipeline_of_its_workspace(
    idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    jobs = make_jobs(idle, shop_db, tmp_path, "a", "b")
    bad = idle.patch(f"/api/v1/jobs/{jobs['a']}", json={"pipeline_id": "nope"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)
    assert bad.json()["field"] == "pipeline_id" and "nope" in bad.json()["detail"]
    team = idle.post("/api/v1/workspaces", json={"name": "team"}).json()
    elsewhere = idle.post(
        "/api/v1/pipelines", json={"name": "theirs", "workspace_id": team["id"]}
    ).json()
    other = idle.patch(f"/api/v1/jobs/{jobs['a']}", json={"pipeline_id": elsewhere["id"]})
    assert other.status_code == 422 and other.json()["field"] == "pipeline_id"
    pipeline = make_pipeline(idle, [])
    for key in (pipeline["id"], "nightly"):  # by id, or by name
        moved = idle.patch(f"/api/v1/jobs/{jobs['b']}", json={"pipeline_id": key})
        assert moved.status_code == 200 and moved.json()["pipeline_id"] == pipeline["id"]
    idle.patch(f"/api/v1/jobs/{jobs['a']}", json={"pipeline_id": pipeline["id"]})
    got = idle.get(f"/api/v1/pipelines/{pipeline['id']}").json()
    assert [s["job_name"] for s in got["steps"]] == ["b", "a"]  # appended, in order
    listed = idle.get("/api/v1/jobs", params={"pipeline_id": pipeline["id"]}).json()
    assert listed["total"] == 2
    # The pipeline's steps and the jobs' pipeline_id are one fact, seen from both sides.
    idle.patch(f"/api/v1/pipelines/{pipeline['id']}", json={"steps": [{"job_id": "a"}]})
    assert idle.get(f"/api/v1/jobs/{jobs['b']}").json()["pipeline_id"] is None
    assert idle.delete(f"/api/v1/jobs/{jobs['a']}").status_code == 204
    assert idle.get(f"/api/v1/pipelines/{pipeline['id']}").json()["steps"] == []
    unknown = idle.post("/api/v1/pipelines", json={"name": "x", "steps": [{"job_id": "zz"}]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "steps[0].job_id"
    circle = idle.post(
        "/api/v1/pipelines",
        json={
            "name": "circle",
            "steps": [{"job_id": "b", "depends_on": ["b"]}],
        },
    )
    assert circle.status_code == 422 and circle.json()["field"] == "steps[0].depends_on"
    empty = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs")
    assert empty.status_code == 422 and empty.json()["field"] == "steps"
    assert idle.delete(f"/api/v1/pipelines/{pipeline['id']}").status_code == 204
    assert idle.get(f"/api/v1/pipelines/{pipeline['id']}").status_code == 404


def test_cycles_are_refused(idle: TestClient, shop_db: Path, tmp_path: Path) -> None:
    make_jobs(idle, shop_db, tmp_path, "a", "b")
    circle = idle.post(
        "/api/v1/pipelines",
        json={
            "name": "circle",
            "steps": [{"job_id": "a", "depends_on": ["b"]}, {"job_id": "b"}],
        },
    )
    assert circle.status_code == 422 and circle.json()["field"] == "steps"


def test_viewers_read_and_other_workspaces_see_nothing(
    idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    make_jobs(idle, shop_db, tmp_path, "a")
    pipeline = make_pipeline(idle, [{"job_id": "a"}])
    run = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()
    team = idle.post("/api/v1/workspaces", json={"name": "team"}).json()
    viewer = idle.post("/api/v1/users", json={"name": "vera", "role": "viewer"}).json()
    outsider = idle.post(
        "/api/v1/users", json={"name": "olga", "role": "standard", "workspace_ids": [team["id"]]}
    ).json()
    tokens = {
        user["name"]: idle.post(f"/api/v1/users/{user['id']}/tokens", json={"name": "t"}).json()[
            "token"
        ]
        for user in (viewer, outsider)
    }
    as_viewer = TestClient(idle.app, headers={"Authorization": f"Bearer {tokens['vera']}"})
    assert as_viewer.get(f"/api/v1/pipelines/{pipeline['id']}").status_code == 200
    assert as_viewer.get(f"/api/v1/pipeline-runs/{run['id']}").status_code == 200
    for method, path, body in (
        ("POST", "/api/v1/pipelines", {"name": "mine"}),
        ("PATCH", f"/api/v1/pipelines/{pipeline['id']}", {"on_error": "continue"}),
        ("POST", f"/api/v1/pipelines/{pipeline['id']}/runs", None),
        ("POST", f"/api/v1/pipeline-runs/{run['id']}/cancel", None),
        ("DELETE", f"/api/v1/pipelines/{pipeline['id']}", None),
    ):
        refused = as_viewer.request(method, path, json=body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.headers["content-type"].startswith(PROBLEM)
    as_outsider = TestClient(idle.app, headers={"Authorization": f"Bearer {tokens['olga']}"})
    assert as_outsider.get(f"/api/v1/pipelines/{pipeline['id']}").status_code == 404
    assert as_outsider.get(f"/api/v1/pipeline-runs/{run['id']}").status_code == 404
    assert as_outsider.post(f"/api/v1/pipelines/{pipeline['id']}/runs").status_code == 404
    assert as_outsider.post(f"/api/v1/pipeline-runs/{run['id']}/cancel").status_code == 404
    assert as_outsider.get("/api/v1/pipelines").json()["total"] == 0
    assert as_outsider.get("/api/v1/pipeline-runs").json()["total"] == 0
    # their own pipeline cannot take a job of another workspace
    theirs = as_outsider.post("/api/v1/pipelines", json={"name": "t", "steps": [{"job_id": "a"}]})
    assert theirs.status_code == 422 and theirs.json()["field"] == "steps[0].job_id"
    deleting = idle.delete(f"/api/v1/pipelines/{pipeline['id']}")
    assert deleting.status_code == 409  # its run is under way


def test_real_workers_run_the_steps_in_order(
    client: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    jobs = make_jobs(client, shop_db, tmp_path, "first", "second")
    pipeline = make_pipeline(client, [{"job_id": "first"}, {"job_id": "second"}])
    run_id = client.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()["id"]
    deadline = time.monotonic() + 60
    while (shown := client.get(f"/api/v1/pipeline-runs/{run_id}").json())["status"] == (
        "in_progress"
    ):
        assert time.monotonic() < deadline, shown
        time.sleep(0.1)
    assert shown["status"] == "completed", shown
    first, second = (client.get(f"/api/v1/runs/{s['run_id']}").json() for s in shown["steps"])
    assert (first["job_id"], second["job_id"]) == (jobs["first"], jobs["second"])
    assert first["status"] == second["status"] == "completed"
    assert second["started_at"] >= first["completed_at"]
    assert first["stats"]["rows_written"] == second["stats"]["rows_written"] == 1000


def test_two_steps_ending_at_once_start_their_successor_once(
    runtime: Runtime, idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    jobs = make_jobs(idle, shop_db, tmp_path, "a", "b", "c")
    steps = [
        {"job_id": "a"},
        {"job_id": "b", "depends_on": []},
        {"job_id": "c", "depends_on": ["a", "b"]},
    ]
    pipeline = make_pipeline(idle, steps)
    run_id = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()["id"]
    claimed = [runtime.queue.claim("w", "h"), runtime.queue.claim("w", "h")]
    assert all(c is not None for c in claimed)
    barrier = threading.Barrier(2)

    def finish(run: Any) -> None:
        barrier.wait()
        runtime.queue.finish(run.id, "w", RunOutcome(status=RunStatus.completed))

    workers = [threading.Thread(target=finish, args=(c,)) for c in claimed]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert steps_of(idle, run_id) == {"a": "completed", "b": "completed", "c": "pending"}
    c_runs = idle.get("/api/v1/runs", params={"job_id": jobs["c"]}).json()
    assert c_runs["total"] == 1  # queued once, by whichever step ended last
    assert play(runtime, dict.fromkeys(jobs.values(), RunStatus.completed)) == [jobs["c"]]
    assert idle.get(f"/api/v1/pipeline-runs/{run_id}").json()["status"] == "completed"


def test_a_step_whose_worker_died_fails_the_pipeline_through_the_sweeper(
    runtime: Runtime, idle: TestClient, shop_db: Path, tmp_path: Path
) -> None:
    make_jobs(idle, shop_db, tmp_path, "a", "b")
    pipeline = make_pipeline(idle, [{"job_id": "a"}, {"job_id": "b"}])
    run_id = idle.post(f"/api/v1/pipelines/{pipeline['id']}/runs").json()["id"]
    claimed = runtime.queue.claim("dead-worker", "h")
    assert claimed is not None
    swept = runtime.queue.sweep(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert swept == [claimed.id]  # one attempt only: the run fails
    assert steps_of(idle, run_id) == {"a": "error", "b": "skipped"}
    assert idle.get(f"/api/v1/pipeline-runs/{run_id}").json()["status"] == "error"
