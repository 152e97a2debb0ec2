"""What a run needs to execute, as plain values that cross a process boundary.

A worker builds a `RunSpec` from the store (decrypting connection secrets) and hands it
to the process that executes the run; the engine never reads the store itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conveyor.domain import EngineSettings, RunJobType
from conveyor.policy import Reach


@dataclass(frozen=True)
class Endpoint:
    """A connection the engine opens: its URL (with password), plain-text options, and what
    the policy lets it reach (checked by the connector as it opens files and sockets)."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    reach: Reach = field(default_factory=Reach)

    def __repr__(self) -> str:
        from conveyor.crypto import mask_url

        return f"Endpoint(name={self.name!r}, url={mask_url(self.url)!r})"


@dataclass(frozen=True)
class TaskSpec:
    """One task to execute: its statement and what the engine remembered of it last time."""

    id: str
    position: int
    query: str
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """Everything one run executes."""

    run_id: str
    job_id: str
    job_name: str
    job_type: str
    run_job_type: RunJobType
    settings: EngineSettings
    source: Endpoint | None
    destination: Endpoint | None
    tasks: tuple[TaskSpec, ...]
    attempt: int = 1
    kind: str = "job"
    export_format: str | None = None
    artifacts_dir: str | None = None
    resumed: bool = False
    """The run goes on after its worker shut down: tasks it completed are not run again."""
    extra: dict[str, Any] = field(default_factory=dict)
    event_reach: Reach = field(default_factory=Reach)
    """Where the job's pre-job event may be delivered (the workspace's reach)."""
