"""Transformation pages: the list, new and edit forms with every field the native API
accepts (SQL, connection, trigger, schedule and its next fire times, notifications,
settings), Run now and Delete — over `services.transformations`, which enforces roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from conveyor.console import forms
from conveyor.console.forms import Override
from conveyor.console.web import Page, Pager, Posted, Signed, redirect
from conveyor.domain import utcnow
from conveyor.errors import ConveyorError
from conveyor.scheduler.cron import fire_times, first_fire_from
from conveyor.schemas.transformations import (
    TransformationCreate,
    TransformationFields,
    TransformationOut,
)
from conveyor.services import connections, jobs, transformations
from conveyor.services.context import Context

router = APIRouter(prefix="/ui/transformations")
FIRE_TIMES = 5
GROUPS = {
    **dict.fromkeys(("name", "connection_id", "queries"), "Transformation"),
    **dict.fromkeys(
        ("trigger_mode", "trigger_after_job_id", "trigger_tasks", "schedule_cron"), "Trigger"
    ),
    **dict.fromkeys(("send_email", "email_to", "email_subject", "email_error_only"), "Email"),
    **dict.fromkeys(("verbosity", "command_timeout", "max_attempts"), "Run settings"),
}
"""Which fieldset each field is in, in the order they are shown."""
INPUTS = forms.describe(
    TransformationFields,
    {
        "connection_id": Override(label="Connection", kind="select"),
        "queries": Override(name="query", label="Query", kind="statements"),
        "trigger_mode": Override(label="Trigger"),
        "trigger_after_job_id": Override(label="After job", kind="select"),
        "trigger_tasks": Override(label="Only after these tasks loaded rows"),
        "schedule_cron": Override(label="Schedule (cron)"),
    },
    GROUPS,
)
"""Every field the native API accepts for a transformation, as the console's inputs."""


def _inputs(ctx: Context, page: Page) -> list[forms.Input]:
    """The inputs with this caller's connections and jobs to choose from."""
    query = page.scoped({"sort": "name", "limit": "1000"})
    conns = [(row.id, row.name) for row in connections.list_(ctx, query).rows]
    found = [(row.id, row.name) for row in jobs.list_(ctx, query).rows]
    return forms.with_choices(INPUTS, {"connection_id": conns, "trigger_after_job_id": found})


def _upcoming(item: TransformationOut | None) -> list[Any]:
    """A scheduled transformation's next fire times (none for another trigger)."""
    if item is None or item.trigger_mode.value != "scheduled" or not item.schedule_cron:
        return []
    first = first_fire_from(item.schedule_cron, item.created_at, utcnow())
    return fire_times(item.schedule_cron, first, FIRE_TIMES) if first else []


def _form(
    page: Page,
    item: TransformationOut | None,
    status_code: int = 200,
    errors: forms.Errors | None = None,
    values: dict[str, forms.Value] | None = None,
) -> HTMLResponse:
    with page.unit(read_only=True) as ctx:
        inputs = _inputs(ctx, page)
    return page.render(
        "transformation_form.html",
        status_code,
        item=item,
        inputs=inputs,
        values=values if values is not None else forms.values_of(INPUTS, item),
        errors=errors,
        fire_times=_upcoming(item),
    )


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def list_transformations(page: Signed) -> HTMLResponse:
    """The transformations the caller sees, with their trigger and latest status."""
    pager = Pager.of(page.request)
    with page.unit(read_only=True) as ctx:
        found = transformations.list_(ctx, page.scoped({"sort": "name", **pager.params}))
        shown = transformations.to_outs(ctx, found.rows)
    return page.render(
        "transformations.html",
        items=shown,
        total=found.total,
        pager=pager.counted(found.total),
    )


@router.get("/new", response_class=HTMLResponse, include_in_schema=False)
def new_transformation(page: Signed) -> HTMLResponse:
    """The form for a new transformation."""
    return _form(page, None)


@router.post("/new", include_in_schema=False)
def create_transformation(page: Posted) -> Response:
    """Create it; refusals shown next to the inputs they name."""
    values = forms.posted_values(INPUTS, page.form)
    try:
        data = TransformationCreate.model_validate(
            {**forms.parse(INPUTS, page.form), "workspace_id": page.workspace}
        )
        with page.unit() as ctx:
            created = transformations.create(ctx, data).id
    except ValidationError as exc:
        return _form(page, None, 422, forms.errors_of(INPUTS, exc), values)
    except ConveyorError as exc:
        return _form(page, None, exc.status_code, forms.errors_of(INPUTS, exc), values)
    return redirect(f"/ui/transformations/{created}")


def _shown(page: Page, transformation_id: str) -> TransformationOut:
    with page.unit(read_only=True) as ctx:
        return transformations.to_out(ctx, transformations.get(ctx, transformation_id))


@router.get("/{transformation_id}", response_class=HTMLResponse, include_in_schema=False)
def edit_transformation(page: Signed, transformation_id: str) -> HTMLResponse:
    """A transformation's form, Run now and Delete."""
    return page.shown(lambda: _form(page, _shown(page, transformation_id)))


@router.post("/{transformation_id}", include_in_schema=False)
def save_transformation(page: Posted, transformation_id: str) -> Response:
    """Save every field; refusals shown next to the inputs they name."""

    def save(ctx: Context) -> str:
        transformations.update(ctx, transformation_id, forms.parse(INPUTS, page.form))
        return f"/ui/transformations/{transformation_id}?saved=1"

    def refused(exc: ConveyorError) -> Response:
        if exc.status_code == 404:
            return page.fail(exc)
        item = _shown(page, transformation_id)
        values = forms.posted_values(INPUTS, page.form)
        return _form(page, item, exc.status_code, forms.errors_of(INPUTS, exc), values)

    return page.act(save, refused)


@router.post("/{transformation_id}/run", include_in_schema=False)
def run_transformation(page: Posted, transformation_id: str) -> Response:
    """Queue a run of the transformation now, and show it."""
    return page.act(lambda ctx: f"/ui/runs/{transformations.execute(ctx, transformation_id).id}")


@router.post("/{transformation_id}/delete", include_in_schema=False)
def delete_transformation(page: Posted, transformation_id: str) -> Response:
    """Delete the transformation and its runs (refused while one runs)."""

    def delete(ctx: Context) -> str:
        transformations.delete(ctx, transformation_id)
        return "/ui/transformations?deleted=1"

    return page.act(delete)
