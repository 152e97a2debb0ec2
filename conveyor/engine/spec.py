"""What a run needs to execute, as plain values that cross a process boundary.

A worker builds a `RunSpec` from the store (decrypting connection secrets) and hands it
to the process that executes the run; the engine never reads the store itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from conveyor.crypto import Redactor, mask_url
from conveyor.domain import EngineSettings, JobEvent, RunLoad
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
        return f"Endpoint(name={self.name!r}, url={mask_url(self.url, self._secret_names)!r})"

    @cached_property
    def _secret_names(self) -> tuple[str, ...]:
        """The connector's own secret option names (beyond those named like a secret)."""
        from conveyor.connectors.registry import resolve
        from conveyor.errors import ConveyorError

        try:
            return resolve(self.url).secret_options
        except ConveyorError:
            return ()

    @cached_property
    def redactor(self) -> Redactor:
        """Masks this connection's own secrets (URL password, secret parameters and
        options) in text about it — and no other connection's."""
        return Redactor.for_connection(self.url, self.options, self._secret_names)


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
    """The job's type (standard, sync_all, load_folder, reverse_etl, …; or transformation)."""
    load: RunLoad
    """How this run loads: full (copy everything again) or incremental."""
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
    pre_job_event: JobEvent | None = field(default=None, repr=False)
    """The hook called before the run starts, which may cancel it (its signing secret
    included: kept out of the repr)."""
    event_reach: Reach = field(default_factory=Reach)
    """Where the job's pre-job event may be delivered (the workspace's reach)."""

    @cached_property
    def redactor(self) -> Redactor:
        """Masks the run's own secrets — its source's, its destination's and its pre-job
        event's signing secret — in its errors, log lines and task errors. The run's log is
        read by the workspace that owns both connections, so one redactor serves both."""
        found = Redactor()
        for endpoint in (self.source, self.destination):
            if endpoint is not None:
                found |= endpoint.redactor
        if self.pre_job_event is not None:
            found |= Redactor.of(self.pre_job_event.secret)
        return found
