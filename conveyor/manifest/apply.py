"""Making a plan's changes through the API, in order, names turned into ids as they exist.

A connection a job names may be created by the same apply, so ids are looked up when
each change is made, not when the plan is; a job's tasks are brought in line by position
(a statement changed in place keeps its task, and its history, when it is edited).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conveyor.client import Client
from conveyor.client.errors import APIError, ClientError
from conveyor.manifest.model import JobSpec, Manifest, PipelineSpec, TransformationSpec
from conveyor.manifest.plan import (
    Change,
    State,
    connection_fields,
    job_fields,
    pipeline_fields,
    transformation_fields,
)
from conveyor.schemas.tasks import TaskOut


class Ids:
    """Names to ids, from the state read and what this apply created."""

    def __init__(self, state: State) -> None:
        self.connections = {name: c.id for name, c in state.connections.items()}
        self.jobs = {name: j.id for name, j in state.jobs.items()}

    def connection(self, name: str | None) -> str | None:
        return _id_of(self.connections, "connection", name)

    def job(self, name: str | None) -> str | None:
        return _id_of(self.jobs, "job", name)


def _id_of(ids: dict[str, str], what: str, name: str | None) -> str | None:
    """The id of the `what` named `name` (none for none); refused when neither the file
    nor the workspace has it."""
    if name is None:
        return None
    if name not in ids:
        raise ClientError(f"no {what} named {name!r} in the file or the workspace")
    return ids[name]


def _job_body(spec: JobSpec, ids: Ids, changed: tuple[str, ...] | None) -> dict[str, object]:
    fields = job_fields(spec)
    if changed is not None:
        fields = {name: value for name, value in fields.items() if name in changed}
    if changed is None or "source" in changed:
        fields["source_connection_id"] = ids.connection(spec.source)
    if changed is None or "destination" in changed:
        fields["destination_connection_id"] = ids.connection(spec.destination)
    return fields


def _transformation_body(spec: TransformationSpec, ids: Ids) -> dict[str, object]:
    return {
        "name": spec.name,
        **transformation_fields(spec),
        "connection_id": ids.connection(spec.connection),
        "trigger_after_job_id": ids.job(spec.after_job),
    }


def _pipeline_body(spec: PipelineSpec, ids: Ids) -> dict[str, object]:
    steps = [
        {
            "job_id": ids.job(step.job),
            "depends_on": None
            if step.depends_on is None
            else [ids.job(name) for name in step.depends_on],
        }
        for step in spec.steps
    ]
    return {"name": spec.name, **pipeline_fields(spec), "steps": steps}


def sync_tasks(client: Client, job_id: str, statements: list[str], tasks: list[TaskOut]) -> None:
    """Make a job's tasks the statements given, in order, changing as few as it can."""
    for index, statement in enumerate(statements):
        if index < len(tasks):
            task = tasks[index]
            if task.query != statement or not task.is_active:
                client.tasks.update(job_id, task.id, query=statement, is_active=True)
        else:
            client.tasks.create(job_id, statement)
    for task in tasks[len(statements) :]:
        client.tasks.delete(job_id, task.id)


@dataclass
class Applier:
    """One apply's client, the state it read, the file's specs by name, and the ids."""

    client: Client
    manifest: Manifest
    state: State

    def __post_init__(self) -> None:
        self.ids = Ids(self.state)
        self.connections = {c.name: c for c in self.manifest.connections}
        self.jobs = {j.name: j for j in self.manifest.jobs}
        self.transformations = {t.name: t for t in self.manifest.transformations}
        self.pipelines = {p.name: p for p in self.manifest.pipelines}
        self.workspace = {"workspace_id": self.state.workspace}

    def make(self, change: Change) -> None:
        """Make one change through the API."""
        if change.action == "delete":
            self.delete(change)
        elif change.kind == "connection":
            self.connection(change)
        elif change.kind == "job":
            self.job(change)
        elif change.kind == "pipeline":
            self.pipeline(change)
        else:
            self.transformation(change)

    def connection(self, change: Change) -> None:
        body = connection_fields(self.connections[change.name])
        if change.action == "create":
            made = self.client.connections.create(body, **self.workspace)
            self.ids.connections[change.name] = made.id
        else:
            self.client.connections.update(self.state.connections[change.name].id, body)

    def job(self, change: Change) -> None:
        job = self.jobs[change.name]
        if change.action == "create":
            body = _job_body(job, self.ids, None)
            made = self.client.jobs.create(body, name=job.name, queries=job.tasks, **self.workspace)
            self.ids.jobs[change.name] = made.id
            return
        shown = self.state.jobs[change.name]
        body = _job_body(job, self.ids, change.fields)
        if body:
            self.client.jobs.update(shown.id, body)
        if "tasks" in change.fields:
            sync_tasks(self.client, shown.id, job.tasks, self.state.tasks[change.name])

    def transformation(self, change: Change) -> None:
        body = _transformation_body(self.transformations[change.name], self.ids)
        if change.action == "create":
            self.client.transformations.create(body, **self.workspace)
        else:
            shown = self.state.transformations[change.name]
            self.client.transformations.update(shown.id, body)

    def pipeline(self, change: Change) -> None:
        body = _pipeline_body(self.pipelines[change.name], self.ids)
        if change.action == "create":
            self.client.pipelines.create(body, **self.workspace)
        else:
            self.client.pipelines.update(self.state.pipelines[change.name].id, body)

    def delete(self, change: Change) -> None:
        if change.kind == "pipeline":
            self.client.pipelines.delete(self.state.pipelines[change.name].id)
        elif change.kind == "transformation":
            self.client.transformations.delete(self.state.transformations[change.name].id)
        elif change.kind == "job":
            self.client.jobs.delete(self.state.jobs[change.name].id)
        else:
            self.client.connections.delete(self.state.connections[change.name].id)


def apply(
    client: Client,
    manifest: Manifest,
    state: State,
    changes: list[Change],
    done: Callable[[Change], None] = lambda change: None,
) -> None:
    """Make the changes, in the plan's order; `done` hears of each one made. A refusal
    is raised with the change it refused named in its detail."""
    applier = Applier(client, manifest, state)
    for change in changes:
        try:
            applier.make(change)
        except APIError as exc:
            problem = {**exc.problem, "detail": f"{change.line()}: {exc.detail or exc.title}"}
            raise type(exc)(exc.status, problem, exc.retry_after) from exc
        done(change)
