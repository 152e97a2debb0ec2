"""The pipeline form: name, on_error and schedule as the API's own fields, and the steps
as an ordered list of job inputs (a job's name, suggested from one list of the workspace's
jobs) — turned into the body `services.pipelines` takes, and its refusals placed at the
inputs they name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conveyor.console import forms
from conveyor.console.forms import Input, Override
from conveyor.errors import ConveyorError, InvalidInput
from conveyor.schemas.pipelines import PipelineFields

SPARE_STEPS = 3
"""Empty step inputs offered below the pipeline's steps (save, and there are more)."""
JOBS_LIST = "pipeline-jobs"
"""The id of the `<datalist>` of the workspace's job names every step input suggests from."""
FIELDS = [
    item
    for item in forms.describe(
        PipelineFields,
        {
            "on_error": Override(label="On error"),
            "schedule.enabled": Override(name="schedule_enabled", label="Schedule enabled"),
            "schedule.cron": Override(name="cron", label="Schedule (cron)"),
        },
        {"name": "Pipeline", "on_error": "Pipeline", "schedule": "Schedule"},
    )
    if item.path[0] != "steps"
]
"""The inputs of every field but the steps, from the API's model."""


def step_name(index: int) -> str:
    """The form name of the step input at `index` (0-based)."""
    return f"step_{index}"


def inputs(count: int) -> list[Input]:
    """The form's inputs: the fields, then `count` step inputs (job names or ids)."""
    steps = [
        Input(
            path=(f"steps[{index}]", "job_id"),
            name=step_name(index),
            label=f"Step {index + 1}",
            kind="text",
            group="Steps (in order; each waits for the one before unless the API set otherwise)",
            optional=True,
            help="a job of the pipeline's workspace, by name or id; empty: no step",
            datalist=JOBS_LIST,
        )
        for index in range(count)
    ]
    return [*FIELDS, *steps]


def slots(stored: int) -> int:
    """How many step selects a pipeline of `stored` steps shows."""
    return stored + SPARE_STEPS


def values_of(
    item: PipelineFields | None, count: int, names: Mapping[str, str]
) -> dict[str, forms.Value]:
    """What each input shows: the stored pipeline (or the defaults), its steps in order by
    their jobs' names (`names`, by id)."""
    values = forms.values_of(FIELDS, item)
    steps = item.steps if item is not None else []
    for index in range(count):
        job_id = steps[index].job_id if index < len(steps) else ""
        values[step_name(index)] = names.get(job_id, job_id)
    return values


@dataclass(frozen=True)
class Posted:
    """A posted pipeline form as the API's body, and which select each step came from."""

    body: dict[str, Any]
    chosen: list[int]
    """The input index of each step of `body["steps"]` (empty inputs are no step)."""

    def placed(self, exc: ConveyorError, shown: list[Input]) -> forms.Errors:
        """The service's refusal at the input it names (`steps[i]` is the i-th chosen)."""
        where = getattr(exc, "field", None) or ""
        if where.startswith("steps[") and "]" in where:
            index, rest = where[len("steps[") :].split("]", 1)
            if index.isdigit() and int(index) < len(self.chosen):
                where = f"steps[{self.chosen[int(index)]}]{rest or '.job_id'}"
                exc = InvalidInput(exc.message, field=where)
        return forms.errors_of(shown, exc)


def posted_count(form: Mapping[str, str]) -> int:
    """How many step selects the posted form had (`step_0` … `step_<n-1>`)."""
    found = [
        int(name[len("step_") :])
        for name in form
        if name.startswith("step_") and name[len("step_") :].isdigit()
    ]
    return max(found) + 1 if found else 0


def parse(
    form: Mapping[str, str], before: PipelineFields | None, jobs: list[tuple[str, str]]
) -> Posted:
    """The body for the service, which finds each step's job by name or id. A job that
    stays a step keeps the dependencies the API gave it (narrowed to the jobs still
    chosen; `jobs`, (id, name) pairs, tell which they are); a new one waits for the step
    before it. An unknown field is refused, as the API refuses it."""
    names = [step_name(index) for index in range(posted_count(form))]
    body = forms.parse(FIELDS, form, also=tuple(names))
    kept = {s.job_id: s.depends_on for s in (before.steps if before else [])}
    known = {**{name: job_id for job_id, name in jobs}, **{job_id: job_id for job_id, _ in jobs}}
    chosen = [index for index, name in enumerate(names) if form.get(name, "").strip()]
    typed = [form[names[index]].strip() for index in chosen]
    ids = [known.get(text, text) for text in typed]
    steps = []
    for text, job_id in zip(typed, ids, strict=True):
        depends_on = kept.get(job_id)
        if depends_on is not None:
            depends_on = [d for d in depends_on if d in ids and d != job_id]
        steps.append({"job_id": text, "depends_on": depends_on})
    return Posted({**body, "steps": steps}, chosen)
