"""How a run tells the world what it is doing, and how the world tells it to stop.

The engine reports through a `Reporter` — a pipe to the supervising worker, a progress
bar in the CLI, a list in tests — and polls a `CancelToken` between batches. Besides
logs, progress and state, a reporter is told each `Stage` a table load reaches, in
order, as it reaches it: an observer can follow (or, in the crash-safety tests, end the
process at) any point of a load without the engine knowing who listens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from conveyor.domain import RunStatus, TaskRunStatus, logged_at
from conveyor.errors import RunCanceled


class CancelToken(Protocol):
    """Set by whoever wants the run to stop (threading or multiprocessing Event)."""

    def is_set(self) -> bool:
        """Whether cancelation was requested."""


def raise_if_canceled(token: CancelToken) -> None:
    """Stop the run (cooperatively) when cancelation was requested."""
    if token.is_set():
        raise RunCanceled()


class Stage(StrEnum):
    """The points every window of a table load passes, in this order."""

    staged = "staged"
    """Every row of the window is in the staging table; the target is untouched."""
    applying = "applying"
    """The destination is about to swap in or merge the staged rows."""
    applied = "applied"
    """The destination committed the window; the task's cursor is not saved yet."""
    checkpointed = "checkpointed"
    """The task's state (its cursor) is durably saved."""


@dataclass
class TaskResult:
    """What one task did."""

    task_id: str
    position: int
    table: str = ""
    status: TaskRunStatus = TaskRunStatus.pending
    rows_read: int = 0
    rows_written: int = 0
    rows_deleted: int = 0
    rows_inserted: int = 0
    """Change data capture: inserts read from the source's log."""
    rows_updated: int = 0
    """Change data capture: updates read from the source's log."""
    cdc: dict[str, Any] | None = None
    """Change data capture: {position, lag_seconds, retained_bytes} of the task's table."""
    bytes_written: int = 0
    error: str | None = None
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunOutcome:
    """How a run ended; the worker turns it into the run's final status."""

    status: RunStatus
    error: str | None = None
    retryable: bool = False
    tasks: list[TaskResult] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    """An export run's files: path (relative to its folder), size, sha256, mime_type."""

    @property
    def rows_read(self) -> int:
        return sum(t.rows_read for t in self.tasks)

    @property
    def rows_written(self) -> int:
        return sum(t.rows_written for t in self.tasks)


class Reporter(Protocol):
    """Receives a run's logs, progress and results as they happen."""

    def log(self, level: str, message: str, task_id: str | None = None) -> None:
        """A log line for the run (levels: debug, detail, info, warning, error)."""

    def task_update(self, result: TaskResult, estimate: int | None = None) -> None:
        """A task started, progressed or finished; `result` is its current state."""

    def save_state(self, task_id: str, state: dict[str, Any]) -> None:
        """Durably store the task's state (cursor); returns only once it is stored."""

    def stage(self, task_id: str, stage: Stage) -> None:
        """The task's load reached `stage` (called as it happens; most reporters ignore it)."""


class VerbosityFilter:
    """A run's reporter that passes on only the log lines its verbosity keeps (see
    `conveyor.domain.LOG_VERBOSITY`); progress, results and state always go through."""

    def __init__(self, reporter: Reporter, verbosity: int) -> None:
        self._reporter = reporter
        self._verbosity = verbosity

    def log(self, level: str, message: str, task_id: str | None = None) -> None:
        if logged_at(level, self._verbosity):
            self._reporter.log(level, message, task_id)

    def task_update(self, result: TaskResult, estimate: int | None = None) -> None:
        self._reporter.task_update(result, estimate)

    def save_state(self, task_id: str, state: dict[str, Any]) -> None:
        self._reporter.save_state(task_id, state)

    def stage(self, task_id: str, stage: Stage) -> None:
        self._reporter.stage(task_id, stage)


class NullReporter:
    """A reporter that keeps what it is told, for tests and one-off runs."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str | None]] = []
        self.results: dict[str, TaskResult] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.stages: list[tuple[str, Stage]] = []

    def log(self, level: str, message: str, task_id: str | None = None) -> None:
        self.lines.append((level, message, task_id))

    def task_update(self, result: TaskResult, estimate: int | None = None) -> None:
        self.results[result.task_id] = result

    def save_state(self, task_id: str, state: dict[str, Any]) -> None:
        self.states[task_id] = state

    def stage(self, task_id: str, stage: Stage) -> None:
        self.stages.append((task_id, stage))
