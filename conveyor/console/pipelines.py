"""Pipeline pages: the list (steps, schedule, last status, next run), a pipeline's page
(its steps in order with their jobs and dependencies, the next fire times, its recent runs
with each step's status and run, its form), new and edit forms, Run now and Cancel — over
`services.pipelines` and `services.pipeline_runs`, which enforce roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from conveyor.console import forms, pipeline_form
from conveyor.console.web import Page, Pager, Posted, Signed, redirect
from conveyor.errors import ConveyorError
from conveyor.scheduler.cron import fire_times
from conveyor.schemas.pipelines import PipelineCreate, PipelineFields, PipelineRunStatus
from conveyor.services import jobs, pipeline_runs, pipelines
from conveyor.services.context import Context

router = APIRouter(prefix="/ui/pipelines")
FIRE_TIMES = 5
RECENT_RUNS = 10


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def list_pipelines(page: Signed) -> HTMLResponse:
    """The pipelines the caller sees, with their steps, schedule, last status, next run."""
    pager = Pager.of(page.request)
    with page.unit(read_only=True) as ctx:
        found = pipelines.list_(ctx, page.scoped({"sort": "name", **pager.params}))
        shown = pipelines.to_outs(ctx, found.rows)
    return page.render(
        "pipelines.html", items=shown, total=found.total, pager=pager.counted(found.total)
    )


def _jobs(ctx: Context, page: Page, workspace_id: str | None) -> list[tuple[str, str]]:
    """The jobs a step may name: the pipeline's workspace's (or, for a new pipeline, the
    chosen workspace's)."""
    query = {"sort": "name", "limit": "1000"}
    query = {**query, "workspace_id": workspace_id} if workspace_id else page.scoped(query)
    return [(row.id, row.name) for row in jobs.list_(ctx, query).rows]


@dataclass
class Form:
    """What the pipeline form shows: its inputs, their values, and any refusal."""

    inputs: list[forms.Input]
    values: dict[str, forms.Value]
    jobs: list[tuple[str, str]]
    """The jobs a step may name, (id, name): the suggestions of every step input."""
    errors: forms.Errors | None = None


def _form(
    ctx: Context,
    page: Page,
    stored: PipelineFields | None,
    workspace_id: str | None,
    posted: dict[str, str] | None = None,
    errors: forms.Errors | None = None,
) -> Form:
    """The form of a stored pipeline (or a new one), or as it was posted and refused."""
    count = pipeline_form.slots(len(stored.steps) if stored else 0)
    if posted is not None:
        count = max(count, pipeline_form.posted_count(posted))
    inputs = pipeline_form.inputs(count)
    found = _jobs(ctx, page, workspace_id)
    if posted is None:
        return Form(inputs, pipeline_form.values_of(stored, count, dict(found)), found, errors)
    return Form(inputs, forms.posted_values(inputs, posted), found, errors)


@router.get("/new", response_class=HTMLResponse, include_in_schema=False)
def new_pipeline(page: Signed) -> HTMLResponse:
    """The form for a new pipeline."""
    with page.unit(read_only=True) as ctx:
        form = _form(ctx, page, None, page.workspace)
    return page.render("pipeline_new.html", form=form)


@router.post("/new", include_in_schema=False)
def create_pipeline(page: Posted) -> Response:
    """Create it; refusals shown next to the inputs they name, what was chosen kept."""
    posted: pipeline_form.Posted | None = None
    try:
        with page.unit(read_only=True) as ctx:
            found = _jobs(ctx, page, page.workspace)
        posted = pipeline_form.parse(page.form, None, found)
        data = PipelineCreate.model_validate({**posted.body, "workspace_id": page.workspace})
        with page.unit() as ctx:
            created = pipelines.create(ctx, data).id
    except (ValidationError, ConveyorError) as exc:
        status = exc.status_code if isinstance(exc, ConveyorError) else 422
        with page.unit(read_only=True) as ctx:
            form = _form(ctx, page, None, page.workspace, page.form)
            form.errors = _placed(posted, exc, form.inputs)
        return page.render("pipeline_new.html", status, form=form)
    return redirect(f"/ui/pipelines/{created}")


def _placed(
    posted: pipeline_form.Posted | None,
    exc: ValidationError | ConveyorError,
    inputs: list[forms.Input],
) -> forms.Errors:
    if posted is None or isinstance(exc, ValidationError):
        return forms.errors_of(inputs, exc)
    return posted.placed(exc, inputs)


def _runs(page: Page, pipeline_id: str) -> dict[str, Any]:
    """A pipeline's recent runs as shown, and whether one is under way (then the runs
    part polls)."""
    with page.unit(read_only=True) as ctx:
        found = pipeline_runs.history(ctx, pipeline_id, {"limit": str(RECENT_RUNS)})
        recent = [pipeline_runs.to_out(ctx, run) for run in found.rows]
    active = any(run.status is PipelineRunStatus.in_progress for run in recent)
    return {"pipeline_id": pipeline_id, "runs": recent, "active": active}


def _pipeline_page(
    page: Page,
    pipeline_id: str,
    status_code: int = 200,
    posted: dict[str, str] | None = None,
    refused: tuple[pipeline_form.Posted | None, ConveyorError] | None = None,
) -> HTMLResponse:
    with page.unit(read_only=True) as ctx:
        row = pipelines.get(ctx, pipeline_id)
        pipeline = pipelines.to_out(ctx, row)
        form = _form(ctx, page, pipelines.fields_of(row), row.workspace_id, posted)
    if refused is not None:
        form.errors = _placed(refused[0], refused[1], form.inputs)
    first = pipeline.next_run_at
    upcoming = fire_times(pipeline.schedule.cron, first, FIRE_TIMES) if first else []
    names = {step.job_id: step.job_name for step in pipeline.steps}
    return page.render(
        "pipeline.html",
        status_code,
        form=form,
        pipeline=pipeline,
        names=names,
        fire_times=upcoming,
        **_runs(page, pipeline.id),
    )


@router.get("/{pipeline_id}", response_class=HTMLResponse, include_in_schema=False)
def show_pipeline(page: Signed, pipeline_id: str) -> HTMLResponse:
    """A pipeline: its steps, schedule, recent runs, Run now and Cancel."""
    return page.shown(lambda: _pipeline_page(page, pipeline_id))


@router.post("/{pipeline_id}", include_in_schema=False)
def save_pipeline(page: Posted, pipeline_id: str) -> Response:
    """Save the pipeline's fields and steps; refusals shown next to the inputs they name."""
    posted: list[pipeline_form.Posted] = []

    def save(ctx: Context) -> str:
        row = pipelines.get(ctx, pipeline_id)
        found = _jobs(ctx, page, row.workspace_id)
        posted.append(pipeline_form.parse(page.form, pipelines.fields_of(row), found))
        pipelines.update(ctx, pipeline_id, posted[0].body)
        return f"/ui/pipelines/{pipeline_id}?saved=1"

    def refused(exc: ConveyorError) -> Response:
        if exc.status_code in (403, 404):
            return page.fail(exc)
        shown = (posted[0] if posted else None, exc)
        return _pipeline_page(page, pipeline_id, exc.status_code, page.form, shown)

    return page.act(save, refused)


@router.get("/{pipeline_id}/runs", response_class=HTMLResponse, include_in_schema=False)
def pipeline_runs_part(page: Signed, pipeline_id: str) -> HTMLResponse:
    """The recent runs part alone (htmx swaps it in); it stops polling once no run is
    under way."""
    return page.shown(lambda: page.render("_pipeline_runs.html", **_runs(page, pipeline_id)))


@router.post("/{pipeline_id}/run", include_in_schema=False)
def run_pipeline(page: Posted, pipeline_id: str) -> Response:
    """Start a pipeline run now (409 while one is under way), and show the pipeline."""

    def start(ctx: Context) -> str:
        started = pipeline_runs.start(ctx, pipeline_id)
        return f"/ui/pipelines/{started.pipeline_id}#run-{started.id}"

    return page.act(start)


@router.post("/{pipeline_id}/cancel", include_in_schema=False)
def cancel_pipeline(page: Posted, pipeline_id: str) -> Response:
    """Cancel the pipeline's run under way: its running steps are canceled, the waiting
    ones skipped."""

    def cancel(ctx: Context) -> str:
        canceled = pipeline_runs.cancel_pipeline(ctx, pipeline_id)
        return f"/ui/pipelines/{canceled.pipeline_id}#run-{canceled.id}"

    return page.act(cancel)
