"""Writing a workspace as a `conveyor.yaml`: what `apply` would make again.

Secrets the server does not show (a URL's password, secret options, an event's signing
key) are written as `${ENV_VAR}` references named after their connection or job, listed
at the top of the file; settings left at their defaults are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from pydantic import BaseModel

from conveyor.manifest.model import (
    ID_FIELDS,
    SCHEMA_FILE,
    ConnectionSpec,
    JobSpec,
    Manifest,
    PipelineSpec,
    TransformationSpec,
)
from conveyor.manifest.plan import MASK, State, shown_steps
from conveyor.schemas.pipelines import PipelineOut


def variable(*parts: str) -> str:
    """An environment variable's name from words: `PG_MAIN_PASSWORD`."""
    return re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


class References:
    """The `${…}` references an export writes for the secrets it cannot read."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, *parts: str) -> str:
        name = variable(*parts)
        self.names.append(name)
        return f"${{{name}}}"


def _url(url: str, name: str, refs: References) -> str:
    if f":{MASK}@" in url:
        return url.replace(f":{MASK}@", f":{refs(name, 'password')}@", 1)
    return url


def _secret_options(options: dict[str, Any], name: str, refs: References) -> dict[str, Any]:
    return {k: refs(name, k) if v == MASK else v for k, v in options.items()}


def _events(data: dict[str, Any], name: str, refs: References) -> dict[str, Any]:
    for event in ("pre_job_event", "post_job_event"):
        hook = data.get(event)
        if isinstance(hook, dict) and hook.get("secret") == MASK:
            data[event] = {**hook, "secret": refs(name, event, "secret")}
    return data


NAMES: dict[str, tuple[str, Callable[[State, str | None], str | None]]] = {
    "source_connection_id": ("source", State.connection_name),
    "destination_connection_id": ("destination", State.connection_name),
    "connection_id": ("connection", State.connection_name),
    "trigger_after_job_id": ("after_job", State.job_name),
}
"""The ids the server keeps that a file gives as names: the name's field, and its lookup."""


def _by_name(made: BaseModel, spec: type[BaseModel], state: State) -> dict[str, Any]:
    """The fields of `made` its spec writes, each id the server keeps written as a name."""
    written = set(spec.model_fields) - set(NAMES) - set(ID_FIELDS)  # ids the file never holds
    data = made.model_dump(mode="json", include=written)
    for field, (name, lookup) in NAMES.items():
        if field in spec.model_fields:
            data[name] = lookup(state, getattr(made, field))
    return data


def manifest_of(state: State, refs: References) -> Manifest:
    """The workspace's state as a manifest (secrets as references)."""
    connections = [
        ConnectionSpec.model_validate(
            {
                **c.model_dump(include={"name", "max_concurrent_runs", "allow_external_access"}),
                "url": _url(c.url, c.name, refs),
                "options": _secret_options(c.options, c.name, refs),
            }
        )
        for c in state.connections.values()
    ]
    jobs = []
    for job in state.jobs.values():
        data = _by_name(job, JobSpec, state)
        data["tasks"] = [t.query for t in state.tasks[job.name] if t.is_active]
        jobs.append(JobSpec.model_validate(_events(data, f"job {job.name}", refs)))
    transformations = [
        TransformationSpec.model_validate(_by_name(made, TransformationSpec, state))
        for made in state.transformations.values()
    ]
    return Manifest(
        workspace=state.workspace,
        connections=connections,
        jobs=jobs,
        transformations=transformations,
        pipelines=[_pipeline(made, state) for made in state.pipelines.values()],
    )


def _pipeline(made: PipelineOut, state: State) -> PipelineSpec:
    """A pipeline as a file writes it: its steps' jobs by name, a step waiting for the
    one before it (the default) without `depends_on`."""
    steps: list[dict[str, Any]] = []
    for job, depends_on in shown_steps(made, state):
        before = [steps[-1]["job"]] if steps else []
        steps.append({"job": job, "depends_on": None if depends_on == before else depends_on})
    return PipelineSpec.model_validate(
        {
            "name": made.name,
            "steps": steps,
            "on_error": made.on_error,
            "schedule": made.schedule.model_dump(),
        }
    )


def _escaped(value: Any, refs: References) -> Any:
    """Values as a file writes them: a `${` the server holds becomes `$${` (else applying
    would read it as a reference), the export's own references aside."""
    if isinstance(value, dict):
        return {key: _escaped(item, refs) for key, item in value.items()}
    if isinstance(value, list):
        return [_escaped(item, refs) for item in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    value = value.replace("${", "$${")
    for name in refs.names:
        value = value.replace(f"$${{{name}}}", f"${{{name}}}")
    return value


def export(state: State) -> str:
    """The workspace as the text of a `conveyor.yaml`."""
    refs = References()
    manifest = manifest_of(state, refs)
    data = _escaped(manifest.model_dump(mode="json", exclude_defaults=True), refs)
    data = {"version": 1, "workspace": state.workspace, **data}
    header = [f"# yaml-language-server: $schema={SCHEMA_FILE.as_uri()}"]
    if refs.names:
        header.append("# Set before `conveyor apply`: " + ", ".join(dict.fromkeys(refs.names)))
    body: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body
