"""What a `conveyor.yaml` holds: connections, jobs with their tasks, transformations and
pipelines, each named, in one workspace.

The fields are the API's own (`ConnectionCreate`, `JobFields`, `TransformationFields`),
so a file says what a request body would, with two differences: connections are named,
not referenced by id (`source: shop`, not `source_connection_id: 3f…`), and a job's
tasks are its list of statements. A pipeline names its steps' jobs (`job: orders`); which
pipeline a job belongs to is said there, not on the job. The JSON Schema editors complete the file with is
generated from these models (`json_schema`) and ships as `conveyor.schema.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from conveyor.domain import Schedule
from conveyor.schemas.common import StrictModel
from conveyor.schemas.connections import ConnectionCreate
from conveyor.schemas.jobs import JobFields
from conveyor.schemas.pipelines import OnError
from conveyor.schemas.transformations import TransformationFields

SCHEMA_FILE = Path(__file__).with_name("conveyor.schema.json")
"""The published JSON Schema of the file (`# yaml-language-server: $schema=…`)."""

ID_FIELDS = {
    "workspace_id": "the file's `workspace`",
    "source_connection_id": "`source` (a connection's name)",
    "destination_connection_id": "`destination` (a connection's name)",
    "connection_id": "`connection` (a connection's name)",
    "trigger_after_job_id": "`after_job` (a job's name)",
    "pipeline_id": "a pipeline's `steps` (`- job: <this job's name>`)",
}
"""Fields of the API a file does not use, and what it uses instead."""


def _refuse_ids(data: Any) -> Any:
    if isinstance(data, dict):
        for field, instead in ID_FIELDS.items():
            if data.get(field) is not None:
                raise ValueError(f"{field} is not used in a file: give {instead}")
    return data


class ByName(BaseModel):
    """A spec that names what it refers to: the API's id fields are refused with what to
    write instead (a base of each spec, beside the API model it takes its fields from)."""

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        return _refuse_ids(data)


class ConnectionSpec(ConnectionCreate, ByName):
    """A connection; write secrets as `${ENV_VAR}` references, read when applying."""

    workspace_id: SkipJsonSchema[str | None] = Field(default=None, exclude=True)


class JobSpec(JobFields, ByName):
    """A job: its source and destination connections by name, its tasks as statements."""

    source: str | None = Field(default=None, description="The source connection's name.")
    destination: str | None = Field(
        default=None, description="The destination connection's name; none for exports."
    )
    tasks: list[str] = Field(
        default_factory=list, description="REPLICATE statements, run in this order."
    )
    source_connection_id: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    destination_connection_id: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    pipeline_id: SkipJsonSchema[str | None] = Field(default=None, exclude=True)


class TransformationSpec(TransformationFields):
    """A transformation: SQL run on a connection, named; `after_job` names a job."""

    connection: str = Field(description="The connection the SQL runs on, by name.")
    after_job: str | None = Field(
        default=None, description="trigger_mode after_job: the job's name."
    )
    connection_id: SkipJsonSchema[str] = Field(default="", exclude=True)
    trigger_after_job_id: SkipJsonSchema[str | None] = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        data = _refuse_ids(data)
        if isinstance(data, dict) and data.get("after_job"):
            # TransformationFields checks an after_job trigger names its job by id
            data = {**data, "trigger_after_job_id": data["after_job"]}
        return data


class StepSpec(StrictModel):
    """A step of a pipeline: a job, by name, and the jobs it waits for."""

    job: str = Field(description="The job's name.")
    depends_on: list[str] | None = Field(
        default=None,
        description="The names of the steps' jobs that must complete first; left out, the "
        "step before; [] none.",
    )


class PipelineSpec(StrictModel):
    """A pipeline: jobs run in order (or as a graph), by name."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    steps: list[StepSpec] = Field(default_factory=list)
    on_error: OnError = Field(default=OnError.stop, description="stop | continue.")
    schedule: Schedule = Field(default_factory=Schedule, description="{enabled, cron}.")


class Manifest(StrictModel):
    """A `conveyor.yaml`: what one workspace should hold, matched by name."""

    version: Literal[1] = Field(default=1, description="The file format's version.")
    workspace: str = Field(default="default", description="The workspace's id.")
    connections: list[ConnectionSpec] = Field(default_factory=list)
    jobs: list[JobSpec] = Field(default_factory=list)
    transformations: list[TransformationSpec] = Field(default_factory=list)
    pipelines: list[PipelineSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        for kind in ("connections", "jobs", "transformations", "pipelines"):
            seen: set[str] = set()
            for item in getattr(self, kind):
                if item.name in seen:
                    raise ValueError(f"two {kind} are named {item.name!r}")
                seen.add(item.name)
        return self


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the file, as published in `conveyor.schema.json`."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "conveyor.yaml"
    return schema
