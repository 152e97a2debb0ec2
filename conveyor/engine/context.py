"""What loading one table works with: the open ends, the run, and where to report.

Every step of a load takes one `TaskContext`; copies of it (`dataclasses.replace`) give
each table of REPLICATE ALL, or each file of a folder, a state saver of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conveyor.connectors.base import Readable, Writable
from conveyor.domain import RunLoad
from conveyor.engine.reporting import CancelToken, Reporter, Stage, TaskResult


@dataclass
class TaskContext:
    """What loading one table needs: the open ends, the run, and where to report."""

    run_id: str
    load: RunLoad
    job_type: str
    source: Readable
    destination: Writable
    reporter: Reporter
    cancel: CancelToken
    result: TaskResult
    started: dt.datetime
    save: Callable[[dict[str, Any]], None]
    open_source: Callable[[], Readable] | None = None
    rows_before: int = field(default=0)

    def progress(self, rows: int, estimate: int | None) -> None:
        """Report rows read so far for this task (staged, not yet written: see `committed`)."""
        self.result.rows_read = self.rows_before + rows
        self.reporter.task_update(self.result, estimate)

    def committed(self, rows: int) -> None:
        """Count rows the destination just committed as written; the count only grows.

        Rows staged by a load that is then canceled or fails never count: the destination
        kept what it had.
        """
        self.result.rows_written += max(0, rows)
        self.reporter.task_update(self.result)

    def log(self, message: str, level: str = "info") -> None:
        """A log line for this task."""
        self.reporter.log(level, message, self.result.task_id)

    def stage(self, stage: Stage) -> None:
        """Tell the reporter this task's load reached `stage`."""
        self.reporter.stage(self.result.task_id, stage)
