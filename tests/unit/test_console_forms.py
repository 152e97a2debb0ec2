"""The console's settings forms, derived from the API's models: every field an input,
a posted form the API's body, refusals at their inputs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conveyor.console import forms
from conveyor.console.jobs import INPUTS as JOB_INPUTS
from conveyor.console.transformations import INPUTS as TRANSFORMATION_INPUTS
from conveyor.schemas.jobs import JobFields, JobOut
from conveyor.schemas.transformations import TransformationFields


def test_every_field_of_the_models_has_an_input() -> None:
    assert {i.path[0] for i in JOB_INPUTS} == set(JobFields.model_fields)
    assert {i.path[0] for i in TRANSFORMATION_INPUTS} == set(TransformationFields.model_fields)
    names = [i.name for i in JOB_INPUTS]
    assert len(names) == len(set(names))
    labels = [i.label for i in JOB_INPUTS]
    assert len(labels) == len(set(labels))  # each input found by its own label


def test_a_posted_form_is_the_apis_body() -> None:
    form = {
        "name": "nightly",
        "type": "change_data_capture",
        "cron": "0 2 * * *",
        "schedule_enabled": "on",
        "verbosity": "5",
        "incremental_check_columns": "updated_at, id",
        "replicate_start_date": "2024-02-29",
        "cdc_engine_settings.name": "nightly_slot",
        "cdc_engine_settings.flush_interval": "1.0",
        "pre_job_event.timeout": "10.0",
        "post_job_event.url": "https://example.com/hook",
        "post_job_event.timeout": "10.0",
    }
    job = JobFields.model_validate(forms.parse(JOB_INPUTS, form))
    assert job.schedule.enabled and job.schedule.cron == "0 2 * * *"
    assert job.verbosity == 5 and job.alter_schema is False  # an unchecked box is False
    assert job.incremental_check_columns == ["updated_at", "id"]
    assert str(job.replicate_start_date) == "2024-02-29"
    assert job.cdc_engine_settings is not None and job.cdc_engine_settings.name == "nightly_slot"
    assert job.pre_job_event is None  # its inputs left at their defaults: none
    assert job.post_job_event is not None and job.post_job_event.timeout == 10.0
    assert job.destination_schema is None  # an empty optional input


def test_shown_values_round_trip() -> None:
    stored = JobFields(
        name="j",
        labels=["a", "b"],
        history_mode=True,
        command_timeout=30,
        schedule={"enabled": True, "cron": "5 * * * *"},
    )
    values = forms.values_of(JOB_INPUTS, stored)
    assert values["labels"] == "a, b" and values["history_mode"] is True
    assert values["cron"] == "5 * * * *" and values["command_timeout"] == "30"
    posted = {k: ("on" if v is True else v) for k, v in values.items() if v is not False}
    again = JobFields.model_validate(forms.parse(JOB_INPUTS, posted))
    assert again == stored
    assert forms.values_of(JOB_INPUTS, None)["alter_schema"] is True  # a new job's default
    assert JobOut  # the shown model has the same fields


def test_statements_end_at_a_semicolon_at_the_end_of_a_line() -> None:
    text = "UPDATE t SET a = ';' WHERE b = 1;\nDELETE FROM t;  \n\nSELECT 1"
    assert forms.statements(text) == [
        "UPDATE t SET a = ';' WHERE b = 1",
        "DELETE FROM t",
        "SELECT 1",
    ]
    shown = forms.shown(["SELECT 1", "SELECT 2"], "statements")
    assert forms.statements(str(shown)) == ["SELECT 1", "SELECT 2"]


def test_refusals_are_placed_at_their_inputs() -> None:
    with pytest.raises(ValidationError) as caught:
        JobFields.model_validate(forms.parse(JOB_INPUTS, {"name": "", "command_timeout": "0"}))
    errors = forms.errors_of(JOB_INPUTS, caught.value)
    assert set(errors.by_name) >= {"name", "command_timeout"}
    with pytest.raises(ValidationError) as nested:
        JobFields.model_validate(
            forms.parse(
                JOB_INPUTS, {"name": "x", "cron": "every day", "pre_job_event.url": "ftp:x"}
            )
        )
    placed = forms.errors_of(JOB_INPUTS, nested.value).by_name
    assert "cron" in placed and "pre_job_event.url" in placed


def test_a_field_that_is_no_setting_is_refused_not_dropped() -> None:
    from conveyor.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        forms.parse(JOB_INPUTS, {"name": "x", "alter_schem": "on"})
    assert caught.value.field == "alter_schem"
    assert forms.parse(JOB_INPUTS, {"name": "x", "query": "REPLICATE t"}, also=("query",))
