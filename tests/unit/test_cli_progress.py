"""`conveyor run`'s bars: determinate (a percentage and time left) when the source
estimated the table's rows, and closed at the rows read when the task ends."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from conveyor.cli.oneoff import ProgressReporter
from conveyor.domain import TaskRunStatus
from conveyor.engine.reporting import TaskResult


def test_a_bar_is_determinate_when_the_rows_are_estimated() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with Progress(console=console, auto_refresh=False) as progress:
        reporter = ProgressReporter(progress)
        running = TaskResult("t1", 0, "items", TaskRunStatus.running, rows_read=2_500)
        reporter.task_update(running, estimate=10_000)
        (bar,) = progress.tasks
        assert bar.total == 10_000 and bar.percentage == 25.0
        unknown = TaskResult("t2", 1, "events", TaskRunStatus.running, rows_read=10)
        reporter.task_update(unknown, estimate=None)
        assert progress.tasks[1].total is None
        done = TaskResult("t1", 0, "items", TaskRunStatus.completed, rows_read=9_990)
        reporter.task_update(done, estimate=10_000)
        assert bar.total == 9_990 and bar.finished
