"""Run pages: a filterable list, and a run's page whose progress, log tail and files
htmx refreshes until the run is final; Retry, Cancel, and file downloads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from conveyor.api import downloads
from conveyor.console.web import Page, Pager, Posted, Signed
from conveyor.domain import RunStatus, utcnow
from conveyor.errors import ConveyorError, InvalidInput, NotFound
from conveyor.schemas.runs import RunOut
from conveyor.services import files, jobs, run_retry, runs
from conveyor.services.context import Context

router = APIRouter(prefix="/ui")
FILTERS = ("status", "job_id", "trigger_method")
LOG_TAIL = "200"
RETRYABLE = frozenset({RunStatus.error, RunStatus.canceled})


@dataclass
class RunFilters:
    """The runs list's filters as the URL holds them (`?job=&status=&from=&to=`), and as
    the runs service's list query: a job by name or id, a status, a date range in UTC
    (both ends included, whole days)."""

    shown: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, page: Page, ctx: Context) -> RunFilters:
        """Read and check the request's filters; a bad one is named in `errors`."""
        params = page.request.query_params
        found = cls({name: params.get(name, "").strip() for name in SHOWN_FILTERS})
        for name in FILTERS:
            if found.shown[name]:
                found.query[name] = found.shown[name]
        if found.shown["job"]:
            try:
                found.query["job_id"] = jobs.JOBS.find(ctx, found.shown["job"]).id
            except NotFound:
                found.errors["job"] = f"no job named {found.shown['job']!r}"
        for name, bound, time in (("from", "gte", dt.time.min), ("to", "lte", dt.time.max)):
            if found.shown[name]:
                try:
                    day = dt.date.fromisoformat(found.shown[name])
                except ValueError:
                    found.errors[name] = "a date, as yyyy-mm-dd"
                    continue
                moment = dt.datetime.combine(day, time, tzinfo=dt.UTC)
                found.query[f"created_at__{bound}"] = moment.isoformat()
        return found


SHOWN_FILTERS = ("job", "job_id", "status", "trigger_method", "from", "to")


@router.get("/runs", response_class=HTMLResponse, include_in_schema=False)
def list_runs(page: Signed) -> HTMLResponse:
    """Runs, newest first, filtered by job, status, trigger and date range."""
    pager = Pager.of(page.request)
    try:
        with page.unit(read_only=True) as ctx:
            filters = RunFilters.of(page, ctx)
            if filters.errors:
                raise InvalidInput("; ".join(f"{k}: {v}" for k, v in filters.errors.items()))
            query = {**filters.query, "sort": "-created_at", **pager.params}
            found = runs.list_(ctx, page.scoped(query), tasks=False)
            shown = [runs.to_brief(run) for run in found.rows]
    except InvalidInput as exc:
        return page.render(
            "runs.html",
            422,
            runs=[],
            total=0,
            filters=filters.shown,
            errors=filters.errors or {"status": exc.message},
            statuses=list(RunStatus),
            pager=pager,
        )
    except ConveyorError as exc:
        return page.fail(exc)
    return page.render(
        "runs.html",
        runs=shown,
        total=found.total,
        filters=filters.shown,
        errors={},
        statuses=list(RunStatus),
        pager=pager.counted(found.total),
    )


def rows_per_second(run: RunOut) -> float | None:
    """Rows written per second since the run started (until it ended, if it did)."""
    if run.started_at is None:
        return None
    seconds = ((run.completed_at or utcnow()) - run.started_at).total_seconds()
    return run.stats.rows_written / seconds if seconds > 0 else None


def _live(page: Page, run_id: str) -> dict[str, Any]:
    """What the run's live part shows: the run, its last log lines and its files."""
    with page.unit(read_only=True) as ctx:
        run = runs.to_out(runs.get(ctx, run_id))
        tail = runs.logs(ctx, run_id, {"sort": "-id", "limit": LOG_TAIL})
        lines = [runs.log_out(line) for line in reversed(tail.rows)]
        written = files.of_run(ctx, run_id)
    return {
        "run": run,
        "rate": rows_per_second(run),
        "lines": lines,
        "files": written,
        "final": run.status.is_final,
        "retryable": run.status in RETRYABLE,
    }


@router.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
def show_run(page: Signed, run_id: str) -> HTMLResponse:
    """A run's page; its live part polls `/live` while the run is not final."""
    return page.shown(lambda: page.render("run.html", **_live(page, run_id)))


@router.get("/runs/{run_id}/live", response_class=HTMLResponse, include_in_schema=False)
def live_run(page: Signed, run_id: str) -> HTMLResponse:
    """The live part alone (htmx swaps it in); it stops polling once the run is final."""
    return page.shown(lambda: page.render("run_live.html", **_live(page, run_id)))


@router.post("/runs/{run_id}/retry", include_in_schema=False)
def retry_run(page: Posted, run_id: str) -> Response:
    """A new run doing what a failed or canceled one did."""

    def retry(ctx: Context) -> str:
        return f"/ui/runs/{run_retry.retry(ctx, run_id).id}"

    return page.act(retry)


@router.post("/runs/{run_id}/cancel", include_in_schema=False)
def cancel_run(page: Posted, run_id: str) -> Response:
    """Cancel the run (a pending one at once, a running one within seconds)."""

    def cancel(ctx: Context) -> str:
        runs.cancel(ctx, run_id)
        return f"/ui/runs/{run_id}"

    return page.act(cancel)


@router.get("/files/{file_id}/download", include_in_schema=False)
def download_file(page: Signed, file_id: str) -> Response:
    """A file a run wrote, as the API's download sends it."""
    try:
        with page.unit(read_only=True) as ctx:
            download = files.download_file(ctx, file_id)
    except ConveyorError as exc:
        return page.fail(exc)
    return downloads.send(download)
