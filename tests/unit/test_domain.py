"""The run state machine and the settings model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conveyor.domain import TRANSITIONS, EngineSettings, RunStatus, Schedule, can_transition


def test_final_statuses_have_no_way_out() -> None:
    for status in (RunStatus.completed, RunStatus.canceled, RunStatus.error):
        assert status.is_final
        assert not TRANSITIONS[status]


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("pending", "in_progress", True),
        ("pending", "canceled", True),
        ("pending", "completed", False),
        ("in_progress", "canceling", True),
        ("in_progress", "suspended", True),
        ("in_progress", "pending", False),
        ("suspended", "in_progress", True),
        ("canceling", "canceled", True),
        ("canceling", "completed", False),
        ("completed", "in_progress", False),
    ],
)
def test_transitions(current: str, target: str, allowed: bool) -> None:
    assert can_transition(RunStatus(current), RunStatus(target)) is allowed


def test_settings_refuse_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        EngineSettings.model_validate({"truncate_tabel_data": True})
    with pytest.raises(ValidationError):
        EngineSettings(worker_pool=0)
    assert EngineSettings.model_validate(
        {"incremental_check_columns": "a, b"}
    ).incremental_check_columns == ["a", "b"]


def test_schedule_validates_cron() -> None:
    assert Schedule(enabled=True, cron="*/5 * * * *").cron == "*/5 * * * *"
    with pytest.raises(ValidationError):
        Schedule(enabled=True, cron="every minute")
