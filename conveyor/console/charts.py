"""A job's recent runs as two small bar charts (duration, rows written), drawn as inline
SVG by the template: no chart library, nothing to download, readable without script
(each bar has a title, and the chart a text alternative)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conveyor.schemas.runs import RunBrief, RunOut

ShownRun = RunOut | RunBrief

WIDTH = 600
HEIGHT = 80
SLOTS = 30
"""Bars a chart has room for: the runs a job page charts (fewer leave the rest empty)."""


@dataclass(frozen=True)
class Bar:
    """One run's bar: where it stands, how tall, and what its title says."""

    x: float
    width: float
    height: float
    status: str
    label: str


@dataclass(frozen=True)
class Chart:
    """A measure of the runs, oldest first, scaled to the chart's height."""

    title: str
    bars: list[Bar]
    most: float
    unit: str
    width: int = WIDTH
    height: int = HEIGHT


def _scaled(runs: Sequence[ShownRun], values: list[float], title: str, unit: str) -> Chart:
    most = max(values, default=0.0)
    step = WIDTH / max(len(values), SLOTS)
    bars = [
        Bar(
            x=i * step + 1,
            width=max(step - 2, 1),
            height=(value / most * (HEIGHT - 2)) if most else 0.0,
            status=run.status.value,
            label=f"{run.created_at:%Y-%m-%d %H:%M} {run.status.value}: {value:,.1f} {unit}",
        )
        for i, (run, value) in enumerate(zip(runs, values, strict=True))
    ]
    return Chart(title, bars, most, unit)


def recent_runs(newest_first: Sequence[ShownRun]) -> list[Chart]:
    """Duration (seconds) and rows written of the finished runs given, oldest first."""
    runs = [r for r in reversed(newest_first) if r.started_at and r.completed_at]
    if not runs:
        return []
    durations = [
        (run.completed_at - run.started_at).total_seconds()  # type: ignore[operator]
        for run in runs
    ]
    rows = [float(run.stats.rows_written) for run in runs]
    return [
        _scaled(runs, durations, "Duration", "s"),
        _scaled(runs, rows, "Rows written", "rows"),
    ]
