"""Console pages at scale: server-side time of each main page of the web console with
1,000 jobs and 100,000 runs (10 log lines each) in the store, and 100 pipelines of 10 of
those jobs with 20 runs each.

Target (issue 19): every page answers in < 100 ms server-side. The store is seeded in
bulk as `bench.history_scale` does; a browser session signs in with the admin token and
requests each page through the whole app in-process (FastAPI's TestClient: routing, the
session cookie, the services, the store, the templates — no sockets), one at a time.

    python -m bench.console_pages [--store sqlite|pg|both] [--jobs 1000]
                                  [--runs 100000] [--repeat 20] [--cache DIR]

`--store pg` seeds a database with a random name on 127.0.0.1:5432, created for the bench
and dropped after it (with `--cache`, one named after the sizes, kept for the next time).
"""

from __future__ import annotations

import argparse
import os
import re
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from bench.cluster_common import percentile
from bench.history_seed import TOKEN, store
from conveyor.api.app import create_app
from conveyor.runtime import Runtime
from conveyor.store.models import Job, Pipeline, PipelineRun, Workspace
from conveyor.store.session import unit_of_work

TARGET_MS = 100.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


PIPELINES, STEPS, PIPELINE_RUNS = 100, 10, 20
"""Pipelines seeded for their pages: each of `STEPS` seeded jobs, with finished runs."""


def seed_pipelines(runtime: Runtime) -> str:
    """`PIPELINES` pipelines of `STEPS` jobs each (scheduled), each with `PIPELINE_RUNS`
    completed runs whose steps name seeded runs; the first one's id. A store seeded
    earlier (`--cache`) keeps the ones it has."""
    with unit_of_work(runtime.factory) as session:
        first = session.scalar(select(Pipeline.id).where(Pipeline.name == "pipeline 0"))
        if first is not None:
            return first
        workspace = session.scalars(select(Workspace)).one().id
        made = list(session.scalars(select(Job).order_by(Job.name).limit(PIPELINES * STEPS)))
        pipelines = []
        for p in range(PIPELINES):
            members = made[p * STEPS : (p + 1) * STEPS]
            pipeline = Pipeline(
                workspace_id=workspace,
                name=f"pipeline {p}",
                steps=[{"job_id": job.id, "depends_on": None} for job in members],
                schedule_enabled=True,
                schedule_cron=f"{p % 60} * * * *",
            )
            pipelines.append(pipeline)
            session.add(pipeline)
            session.flush()
            for job in members:
                job.pipeline_id = pipeline.id
            for r in range(PIPELINE_RUNS):
                steps = [
                    {
                        "job_id": job.id,
                        "job_name": job.name,
                        "depends_on": [members[i - 1].id] if i else [],
                        "status": "completed",
                        "run_id": str(uuid.UUID(int=p * PIPELINE_RUNS * STEPS + r * STEPS + i + 1)),
                        "error": None,
                    }
                    for i, job in enumerate(members)
                ]
                session.add(
                    PipelineRun(
                        workspace_id=workspace,
                        pipeline_id=pipeline.id,
                        pipeline_name=pipeline.name,
                        status="completed",
                        trigger_method="scheduled",
                        steps=steps,
                    )
                )
        session.flush()
        return pipelines[0].id


def pages(job_id: str, run_id: str, day: str, pipeline_id: str) -> list[tuple[str, str]]:
    """(name, path) of each page measured (`day`: a day the seeded runs span)."""
    return [
        ("dashboard", "/ui/"),
        ("connections", "/ui/connections"),
        ("jobs (first 100)", "/ui/jobs"),
        ("job", f"/ui/jobs/{job_id}"),
        ("runs", "/ui/runs"),
        ("runs: status=error", "/ui/runs?status=error"),
        ("runs of a job", f"/ui/runs?job_id={job_id}"),
        ("runs: job+date range", f"/ui/runs?job={job_id}&from={day}&to={day}"),
        ("new job form", "/ui/jobs/new"),
        ("transformations", "/ui/transformations"),
        ("pipelines", "/ui/pipelines"),
        ("pipeline", f"/ui/pipelines/{pipeline_id}"),
        ("pipeline: runs part", f"/ui/pipelines/{pipeline_id}/runs"),
        ("run", f"/ui/runs/{run_id}"),
        ("run: live part", f"/ui/runs/{run_id}/live"),
    ]


def measure(
    kind: str, jobs: int, runs: int, per_run: int, repeat: int, cache: Path | None = None
) -> list[tuple[str, float, float]]:
    began = time.perf_counter()
    with store(kind, runs, per_run, cache, job_count=jobs) as (runtime, seeded):
        job_id, run_id = seeded.job_id, seeded.run_id
        pipeline_id = seed_pipelines(runtime)
        print(
            f"\n## {kind}: seeded {jobs:,} jobs, {runs:,} runs and {runs * per_run:,} log "
            f"lines in {time.perf_counter() - began:.0f} s"
        )
        figures = []
        with TestClient(create_app(runtime), follow_redirects=False) as client:
            form = client.get("/ui/sign-in")
            token = CSRF.search(form.text)
            assert token is not None
            signed = client.post("/ui/sign-in", data={"csrf_token": token[1], "token": TOKEN})
            assert signed.status_code == 303, signed.text
            day = seeded.newest[:10]
            for name, path in pages(job_id, run_id, day, pipeline_id):
                timings, cpu = [], []
                client.get(path)  # warm: the first request plans and caches
                for _ in range(repeat):
                    start, used = time.perf_counter(), time.process_time()
                    response = client.get(path)
                    timings.append((time.perf_counter() - start) * 1000)
                    cpu.append((time.process_time() - used) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"{name}: {response.status_code} {response.text[:500]}")
                figures.append(
                    (
                        name,
                        percentile(timings, 0.5),
                        percentile(timings, 0.99),
                        percentile(cpu, 0.5),
                    )
                )
    return figures


def report(figures: list[tuple[str, float, float, float]]) -> None:
    """Each page's wall time (p50, p99) and CPU time (p50, this process: the app and the
    test client); the machine's load average beside them, since on a shared machine the
    wall time is mostly waiting for a core."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores")
    print(
        f"{'page':<24} {'p50 ms':>8} {'p99 ms':>8} {'cpu p50':>8}  (target p99 < {TARGET_MS:.0f})"
    )
    for name, p50, p99, cpu in figures:
        mark = "ok" if p99 < TARGET_MS else "SLOW"
        print(f"{name:<24} {p50:>8.1f} {p99:>8.1f} {cpu:>8.1f}  {mark}")


def main(
    stores: tuple[str, ...] = ("sqlite",),
    jobs: int = 1_000,
    runs: int = 100_000,
    per_run: int = 10,
    repeat: int = 20,
    cache: Path | None = None,
) -> None:
    for kind in stores:
        report(measure(kind, jobs, runs, per_run, repeat, cache))


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "pg", "postgres", "both"), default="sqlite")
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=None, help="keep the seeded stores here")
    args = parser.parse_args()
    named = {"pg": "postgres"}.get(args.store, args.store)
    stores = ("sqlite", "postgres") if named == "both" else (named,)
    main(stores, args.jobs, args.runs, repeat=args.repeat, cache=args.cache)


if __name__ == "__main__":
    _cli()
