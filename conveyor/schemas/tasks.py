"""Request and response bodies of tasks."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from conveyor.schemas.common import OutModel, StrictModel


class TaskCreate(StrictModel):
    """A new task: a REPLICATE statement, parsed (and refused when bad) on creation."""

    query: str = Field(min_length=1, max_length=100_000)
    is_active: bool = True
    index: int | None = Field(default=None, ge=0, description="Position; default: last.")


class TaskUpdate(StrictModel):
    """Changes to a task."""

    query: str | None = Field(default=None, min_length=1, max_length=100_000)
    is_active: bool | None = None
    index: int | None = Field(default=None, ge=0)


class TaskMove(StrictModel):
    """Move a task to another position."""

    to_index: int = Field(ge=0)
    from_index: int | None = Field(default=None, ge=0, description="Checked when given.")


class TaskPlace(OutModel):
    """Where a task stands in its job and what it loads, as a task shows it and as its
    outcome within a run does (read from the stored `position` and `table_name`)."""

    index: int = Field(validation_alias="position")
    query: str
    table: str = Field(validation_alias="table_name")


class TaskOut(TaskPlace):
    """A task."""

    id: str
    job_id: str
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
