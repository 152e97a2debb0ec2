"""What applying a file would change: the server's state read once, compared by name.

A field is compared as the server shows it. Secrets are the exception: the server
shows a URL's password and secret options as `***`, so a secret whose value alone
changed (in the environment) is not seen as a change; change the reference's name, or
the connection through the API, to replace it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from conveyor.client import Client
from conveyor.manifest.model import (
    ConnectionSpec,
    JobSpec,
    Manifest,
    PipelineSpec,
    TransformationSpec,
)
from conveyor.schemas.connections import ConnectionOut
from conveyor.schemas.jobs import JobOut
from conveyor.schemas.pipelines import PipelineOut
from conveyor.schemas.tasks import TaskOut
from conveyor.schemas.transformations import TransformationOut

MASK = "***"
Kind = Literal["connection", "job", "transformation", "pipeline"]
SPEC_ONLY = {"name", "source", "destination", "tasks", "connection", "after_job"}
"""A spec's own fields: compared through names, or not at all."""


@dataclass(frozen=True)
class Change:
    """One create, update or delete; an update names the fields that differ."""

    action: Literal["create", "update", "delete"]
    kind: Kind
    name: str
    fields: tuple[str, ...] = ()

    def line(self) -> str:
        """`+ connection shop`, `~ job orders (schedule, tasks)`, `- job old`."""
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{sign} {self.kind} {self.name}{detail}"


@dataclass
class State:
    """What one workspace of the server holds, by name."""

    workspace: str
    connections: dict[str, ConnectionOut] = field(default_factory=dict)
    jobs: dict[str, JobOut] = field(default_factory=dict)
    tasks: dict[str, list[TaskOut]] = field(default_factory=dict)
    transformations: dict[str, TransformationOut] = field(default_factory=dict)
    pipelines: dict[str, PipelineOut] = field(default_factory=dict)

    def connection_name(self, key: str | None) -> str | None:
        """The name of the workspace's connection with this id."""
        return next((c.name for c in self.connections.values() if c.id == key), key)

    def job_name(self, key: str | None) -> str | None:
        """The name of the workspace's job with this id."""
        return next((j.name for j in self.jobs.values() if j.id == key), key)


def read_state(client: Client, workspace: str) -> State:
    """The workspace's connections, jobs (with their tasks), transformations and pipelines."""
    state = State(workspace)
    for connection in client.connections.iter(workspace_id=workspace, sort="name"):
        state.connections[connection.name] = connection
    for job in client.jobs.iter(workspace_id=workspace, sort="name"):
        state.jobs[job.name] = job
        state.tasks[job.name] = client.tasks.list(job.id)
    for made in client.transformations.iter(workspace_id=workspace, sort="name"):
        state.transformations[made.name] = made
    for pipeline in client.pipelines.iter(workspace_id=workspace, sort="name"):
        state.pipelines[pipeline.name] = pipeline
    return state


def masked(url: str) -> str:
    """A URL as the server shows it: its password as `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def _same(desired: Any, shown: Any) -> bool:
    """Equal as the server would show `desired` (a `***` stands for any secret)."""
    if shown == MASK and desired not in (None, ""):
        return True
    if isinstance(desired, dict) and isinstance(shown, dict):
        keys = set(desired) | set(shown)
        return all(_same(desired.get(k), shown.get(k)) for k in keys)
    return bool(desired == shown)


def _differing(desired: dict[str, Any], shown: dict[str, Any]) -> list[str]:
    return [name for name, value in desired.items() if not _same(value, shown.get(name))]


def connection_fields(spec: ConnectionSpec) -> dict[str, Any]:
    """What a connection's body sends (its URL as given, secrets included)."""
    return spec.model_dump(mode="json")


def connection_changes(spec: ConnectionSpec, shown: ConnectionOut) -> list[str]:
    """The fields of a connection that differ from the file."""
    desired = {**connection_fields(spec), "url": masked(spec.url)}
    return _differing(desired, shown.model_dump(mode="json"))


def job_fields(spec: JobSpec) -> dict[str, Any]:
    """A job's settings as the API takes them (connections aside)."""
    return spec.model_dump(mode="json", exclude=SPEC_ONLY)


def job_changes(spec: JobSpec, shown: JobOut, tasks: list[TaskOut], state: State) -> list[str]:
    """The fields of a job that differ from the file; `tasks` when its statements do."""
    changed = _differing(job_fields(spec), shown.model_dump(mode="json"))
    if spec.source != state.connection_name(shown.source_connection_id):
        changed.append("source")
    if spec.destination != state.connection_name(shown.destination_connection_id):
        changed.append("destination")
    if [(q, True) for q in spec.tasks] != [(t.query, t.is_active) for t in tasks]:
        changed.append("tasks")
    return changed


def transformation_fields(spec: TransformationSpec) -> dict[str, Any]:
    """A transformation's fields as the API takes them (its connection and job aside)."""
    return spec.model_dump(mode="json", exclude=SPEC_ONLY)


def transformation_changes(
    spec: TransformationSpec, shown: TransformationOut, state: State
) -> list[str]:
    """The fields of a transformation that differ from the file."""
    changed = _differing(transformation_fields(spec), shown.model_dump(mode="json"))
    if spec.connection != state.connection_name(shown.connection_id):
        changed.append("connection")
    if spec.after_job != (state.job_name(shown.trigger_after_job_id) or None):
        changed.append("after_job")
    return changed


def pipeline_fields(spec: PipelineSpec) -> dict[str, Any]:
    """A pipeline's fields as the API takes them (its steps aside: they name jobs)."""
    return spec.model_dump(mode="json", include={"on_error", "schedule"})


def spec_steps(spec: PipelineSpec) -> list[tuple[str, list[str]]]:
    """Each step's job and the jobs it waits for, by name (`depends_on` left out: the
    step before), as the server resolves them."""
    steps = []
    for index, step in enumerate(spec.steps):
        before = [spec.steps[index - 1].job] if index else []
        steps.append((step.job, before if step.depends_on is None else list(step.depends_on)))
    return steps


def shown_steps(shown: PipelineOut, state: State) -> list[tuple[str, list[str]]]:
    """A pipeline's steps as the server shows them, by job name."""
    return [(s.job_name, [state.job_name(d) or d for d in s.depends_on]) for s in shown.steps]


def pipeline_changes(spec: PipelineSpec, shown: PipelineOut, state: State) -> list[str]:
    """The fields of a pipeline that differ from the file; `steps` when its steps do."""
    changed = _differing(pipeline_fields(spec), shown.model_dump(mode="json"))
    if spec_steps(spec) != shown_steps(shown, state):
        changed.append("steps")
    return changed


def _kind_changes(
    kind: Kind, wanted: Iterable[Any], held: dict[str, Any], differ: Any, prune: bool
) -> tuple[list[Change], list[Change]]:
    upserts, deletes = [], []
    names = set()
    for spec in wanted:
        names.add(spec.name)
        if spec.name not in held:
            upserts.append(Change("create", kind, spec.name))
        elif changed := differ(spec, held[spec.name]):
            upserts.append(Change("update", kind, spec.name, tuple(changed)))
    if prune:
        deletes = [Change("delete", kind, name) for name in sorted(set(held) - names)]
    return upserts, deletes


def plan(manifest: Manifest, state: State, prune: bool = False) -> list[Change]:
    """The changes that make the workspace hold what the file says, in the order they
    can be made: connections, jobs, transformations, pipelines; then deletes in reverse
    (only with `prune`: what the file does not name is otherwise left alone)."""
    connections = _kind_changes(
        "connection", manifest.connections, state.connections, connection_changes, prune
    )
    jobs = _kind_changes(
        "job",
        manifest.jobs,
        state.jobs,
        lambda spec, shown: job_changes(spec, shown, state.tasks[spec.name], state),
        prune,
    )
    transformations = _kind_changes(
        "transformation",
        manifest.transformations,
        state.transformations,
        lambda spec, shown: transformation_changes(spec, shown, state),
        prune,
    )
    pipelines = _kind_changes(
        "pipeline",
        manifest.pipelines,
        state.pipelines,
        lambda spec, shown: pipeline_changes(spec, shown, state),
        prune,
    )
    return [
        *connections[0],
        *jobs[0],
        *transformations[0],
        *pipelines[0],
        *pipelines[1],
        *transformations[1],
        *jobs[1],
        *connections[1],
    ]
