"""Job pages: the list, new and edit forms, tasks with a checked REPLICATE editor,
Run now and Cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from conveyor.console import charts, forms
from conveyor.console.forms import Override
from conveyor.console.web import Page, Pager, Posted, Signed, redirect
from conveyor.domain import EngineSettings
from conveyor.errors import BadStatement, ConveyorError, InvalidInput
from conveyor.scheduler.cron import fire_times
from conveyor.schemas.jobs import JobCreate, JobFields
from conveyor.schemas.runs import ExecuteRequest
from conveyor.schemas.tasks import TaskCreate
from conveyor.services import connections, jobs, runs, tasks
from conveyor.services.context import Context

router = APIRouter(prefix="/ui/jobs")
FIRE_TIMES = 5
SECRET_SHOWN = "***"
GROUPS = {
    **dict.fromkeys(
        ("name", "type", "source_connection_id", "destination_connection_id", "export_format"),
        "Job",
    ),
    "schedule": "Schedule",
    **{name: "Loading" for name in EngineSettings.model_fields if name != "export_format"},
    "cdc_engine_settings": "Change data capture (optional: left empty, none)",
    **dict.fromkeys(("send_email", "email_to", "email_subject", "email_error_only"), "Email"),
    "pre_job_event": "Pre-job event (optional: left empty, none)",
    "post_job_event": "Post-job event (optional: left empty, none)",
    **dict.fromkeys(
        ("labels", "pipeline_id", "external_key", "max_attempts", "priority"), "Queue and labels"
    ),
}
"""Which fieldset each job setting is in, in the order they are shown."""
INPUTS = forms.describe(
    JobFields,
    {
        "type": Override(label="Job type"),
        "source_connection_id": Override(name="source", label="Source", kind="select"),
        "destination_connection_id": Override(
            name="destination",
            label="Destination",
            kind="select",
            empty="(none: an export job writes files)",
        ),
        "export_format": Override(label="Export format", empty="(none: copy to the destination)"),
        "schedule.enabled": Override(name="schedule_enabled", label="Schedule enabled"),
        "schedule.cron": Override(name="cron", label="Schedule (cron)"),
        "cdc_engine_settings.name": Override(label="Slot and publication name"),
        "cdc_engine_settings.schema": Override(label="CDC schema"),
        "pre_job_event.url": Override(label="Pre-job event URL"),
        "pre_job_event.secret": Override(label="Pre-job event secret"),
        "pre_job_event.timeout": Override(label="Pre-job event timeout (s)"),
        "post_job_event.url": Override(label="Post-job event URL"),
        "post_job_event.secret": Override(label="Post-job event secret"),
        "post_job_event.timeout": Override(label="Post-job event timeout (s)"),
    },
    GROUPS,
)
"""Every setting the native API accepts for a job, as the console's inputs."""


def statement_error(query: str, exc: ConveyorError) -> dict[str, Any]:
    """A refused statement as the editor shows it: the message, and the text split at
    the position of the error (when the parser gave one) so the page can mark it."""
    position = exc.position if isinstance(exc, BadStatement) else None
    shown: dict[str, Any] = {"message": exc.message, "position": position}
    if position is not None:
        shown["before"] = query[:position]
        shown["at"] = query[position : position + 1] or " "
        shown["after"] = query[position + 1 :]
    return shown


def _choices(ctx: Context, page: Page) -> list[tuple[str, str]]:
    found = connections.list_(ctx, page.scoped({"sort": "name", "limit": "1000"}))
    return [(row.id, row.name) for row in found.rows]


def _inputs(choices: list[tuple[str, str]]) -> list[forms.Input]:
    return forms.with_choices(INPUTS, {"source": choices, "destination": choices})


def _new_form(
    page: Page, status_code: int = 200, errors: forms.Errors | None = None, **values: Any
) -> HTMLResponse:
    with page.unit(read_only=True) as ctx:
        choices = _choices(ctx, page)
    return page.render(
        "job_new.html", status_code, inputs=_inputs(choices), errors=errors, **values
    )


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def list_jobs(page: Signed) -> HTMLResponse:
    """Every job the caller sees, with its last status and next run."""
    pager = Pager.of(page.request)
    with page.unit(read_only=True) as ctx:
        found = jobs.list_(ctx, page.scoped({"sort": "name", **pager.params}))
        shown = jobs.briefs(ctx, found.rows)
    return page.render("jobs.html", jobs=shown, total=found.total, pager=pager.counted(found.total))


@router.get("/new", response_class=HTMLResponse, include_in_schema=False)
def new_job(page: Signed) -> HTMLResponse:
    """The form for a new job with every setting (and, optionally, its first task)."""
    return _new_form(page, values=forms.values_of(INPUTS, None), query="")


@router.post("/new", include_in_schema=False)
def create_job(page: Posted) -> Response:
    """Create the job with its statement checked first; refusals shown at their inputs."""
    query = page.form.get("query", "").strip()
    values = forms.posted_values(INPUTS, page.form)
    try:
        body = forms.parse(INPUTS, page.form, also=("query",))
        data = JobCreate.model_validate(
            {**body, "workspace_id": page.workspace, "queries": [query] if query else []}
        )
        created = jobs.create_vetted(page.runtime, page.principal, data)
    except ValidationError as exc:
        return _new_form(page, 422, forms.errors_of(INPUTS, exc), values=values, query=query)
    except ConveyorError as exc:
        problem = statement_error(query, exc) if isinstance(exc, BadStatement) else None
        refused = None if problem else forms.errors_of(INPUTS, exc)
        return _new_form(
            page, exc.status_code, refused, values=values, query=query, problem=problem
        )
    return redirect(f"/ui/jobs/{created.id}")


def _job_page(page: Page, job_id: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    with page.unit(read_only=True) as ctx:
        row = jobs.get(ctx, job_id)
        job = jobs.to_out(ctx, row)
        values.setdefault("values", forms.values_of(INPUTS, job))
        job_tasks = [tasks.to_out(task) for task in tasks.list_(ctx, job_id)]
        recent = runs.list_(
            ctx, {"sort": "-created_at", "limit": str(charts.SLOTS)}, job_id=job_id, tasks=False
        )
        shown_runs = [runs.to_brief(run) for run in recent.rows]
        active = runs.active_run(ctx, row)
        choices = _choices(ctx, page)
    upcoming = fire_times(job.schedule.cron, job.next_run_at, FIRE_TIMES) if job.next_run_at else []
    return page.render(
        "job.html",
        status_code,
        job=job,
        fire_times=upcoming,
        tasks=job_tasks,
        runs=shown_runs[:10],
        charts=charts.recent_runs(shown_runs),
        active=active.id if active is not None else None,
        inputs=_inputs(choices),
        **values,
    )


@router.get("/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def show_job(page: Signed, job_id: str) -> HTMLResponse:
    """A job: its settings, tasks, latest runs, Run now and Cancel."""
    return page.shown(lambda: _job_page(page, job_id))


def _kept_secrets(ctx: Context, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """An event's secret shown as `***` and posted back unchanged keeps the stored one."""
    stored = jobs.fields_of(jobs.get(ctx, job_id))
    for name in ("pre_job_event", "post_job_event"):
        event, before = body.get(name), getattr(stored, name)
        if isinstance(event, dict) and event.get("secret") == SECRET_SHOWN and before:
            event["secret"] = before.secret
    return body


@router.post("/{job_id}", include_in_schema=False)
def save_job(page: Posted, job_id: str) -> Response:
    """Save every setting of the job; refusals are shown next to the inputs they name."""

    def save(ctx: Context) -> str:
        body = forms.parse(INPUTS, page.form)
        jobs.update(ctx, job_id, _kept_secrets(ctx, job_id, body))
        return f"/ui/jobs/{job_id}?saved=1"

    def refused(exc: ConveyorError) -> Response:
        values = forms.posted_values(INPUTS, page.form)
        errors = forms.errors_of(INPUTS, exc)
        summary = "; ".join(errors.general) or "Not saved: see the settings marked below."
        return _refused(page, job_id, exc, values=values, errors=errors, job_error=summary)

    return page.act(save, refused)


def _job_refused(page: Page, job_id: str) -> Callable[[ConveyorError], Response]:
    """How a job button's refusal is shown: on the job page, above its settings."""
    return lambda exc: _refused(page, job_id, exc, job_error=exc.message)


def _refused(page: Page, job_id: str, exc: ConveyorError, **values: Any) -> Response:
    """The job page again with the refusal (or the error page when the job is not there)."""
    if exc.status_code == 404:
        return page.fail(exc)
    return _job_page(page, job_id, exc.status_code, **values)


@router.post("/{job_id}/tasks/check", response_class=HTMLResponse, include_in_schema=False)
def check_task(page: Posted, job_id: str) -> HTMLResponse:
    """Parse a statement being typed (nothing is saved): htmx shows the error at its place."""
    query = page.form.get("query", "")
    problem = None
    if query.strip():
        try:
            tasks.checked_statement(query)
        except ConveyorError as exc:
            problem = statement_error(query, exc)
    return page.render("statement_check.html", problem=problem, checked=bool(query.strip()))


@router.post("/{job_id}/tasks", include_in_schema=False)
def add_task(page: Posted, job_id: str) -> Response:
    """Add a task; a statement that does not parse is refused with its position."""
    query = page.form.get("query", "")
    try:
        tasks.create_vetted(page.runtime, page.principal, job_id, TaskCreate(query=query))
    except ValidationError as exc:
        error = InvalidInput.from_validation(exc).message
        return _job_page(page, job_id, 422, task_error=error, query=query)
    except ConveyorError as exc:
        problem = statement_error(query, exc)
        return _refused(page, job_id, exc, task_error=exc.message, problem=problem, query=query)
    return redirect(f"/ui/jobs/{job_id}")


@router.post("/{job_id}/tasks/{task_id}/delete", include_in_schema=False)
def delete_task(page: Posted, job_id: str, task_id: str) -> Response:
    """Remove a task from the job."""

    def delete(ctx: Context) -> str:
        tasks.delete(ctx, job_id, task_id)
        return f"/ui/jobs/{job_id}"

    return page.act(delete, _job_refused(page, job_id))


@router.post("/{job_id}/run", include_in_schema=False)
def run_now(page: Posted, job_id: str) -> Response:
    """Start a run of the job and show it."""

    def start(ctx: Context) -> str:
        return f"/ui/runs/{runs.execute(ctx, job_id, ExecuteRequest()).id}"

    return page.act(start, _job_refused(page, job_id))


@router.post("/{job_id}/cancel", include_in_schema=False)
def cancel_job(page: Posted, job_id: str) -> Response:
    """Cancel the job's active run."""

    def cancel(ctx: Context) -> str:
        return f"/ui/runs/{runs.cancel_job(ctx, job_id).id}"

    return page.act(cancel, _job_refused(page, job_id))
