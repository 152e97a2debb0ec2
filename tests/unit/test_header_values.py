"""Header-bound values: refused with the field named when they could break a header, and
made safe where stored ones are used."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from conveyor.api.downloads import disposition
from conveyor.config import Settings
from conveyor.domain import EngineSettings, JobEvent
from conveyor.errors import InvalidInput
from conveyor.header_values import EmailAddress, HeaderText, one_line
from conveyor.notifications import compose
from conveyor.schemas.jobs import JobCreate, JobOut, JobUpdate
from conveyor.schemas.transformations import TransformationCreate
from conveyor.services.tasks import checked_statement


class Subject(BaseModel):
    text: HeaderText


class Recipient(BaseModel):
    address: EmailAddress


@pytest.mark.parametrize(
    "text",
    ["Nightly copy", "Ünïcode ✓ 🚚", 'tab-free; quotes "ok" and (parens)', ""],
)
def test_one_line_text_is_accepted(text: str) -> None:
    assert Subject(text=text).text == text


@pytest.mark.parametrize(
    "text",
    ["a\r\nBcc: x@evil.org", "a\nb", "a\rb", "nul\x00", "del\x7f", "nel\x85", "ls\u2028", "tab\t"],
)
def test_breaking_characters_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Subject(text=text)
    assert "line breaks or control characters" in str(caught.value)


@pytest.mark.parametrize(
    "address", ["ops@example.com", "first.last+tag@sub.example.org", "ünï@exämple.de", "a@b.io"]
)
def test_addresses_are_accepted(address: str) -> None:
    assert Recipient(address=address).address == address


@pytest.mark.parametrize(
    "address",
    [
        "ops@example.com\n",
        "ops@example.com\r\nBcc: x@evil.org",
        "ops@example.com\nBcc:x@evil.org",
        "Ops <ops@example.com>",
        "ops@example",
        "ops@@example.com",
        "ops example@example.com",
        ".ops@example.com",
        "ops@-example.com",
        "ops@example.com,x@evil.org",
        "",
    ],
)
def test_non_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValidationError):
        Recipient(address=address)


def _first_error(model: type[BaseModel], body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    error = InvalidInput.from_validation(caught.value)
    return error.field or "", error.message


JOB = {"name": "nightly", "source_connection_id": "a", "destination_connection_id": "b"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**JOB, "email_subject": "Report\r\nBcc: x@evil.org"}, "email_subject"),
        ({**JOB, "email_to": "ops@example.com, x@evil.org\r\nBcc: y@evil.org"}, "email_to.1"),
        ({**JOB, "email_to": ["ops@example.com\n"]}, "email_to.0"),
        ({**JOB, "table_name_prefix": "x\ny"}, "table_name_prefix"),
        (
            {**JOB, "pre_job_event": {"url": "https://hooks.example/a\r\nX-A: b"}},
            "pre_job_event.url",
        ),
    ],
)
def test_job_bodies_name_the_header_bound_field(body: dict[str, Any], field: str) -> None:
    assert _first_error(JobCreate, body)[0] == field
    patch = {key: value for key, value in body.items() if key not in JOB}
    assert _first_error(JobUpdate, patch)[0] == field


def test_transformation_bodies_name_the_header_bound_field() -> None:
    base = {"name": "t", "connection_id": "c", "queries": ["SELECT 1"]}
    assert _first_error(TransformationCreate, {**base, "email_subject": "a\nb"})[0] == (
        "email_subject"
    )
    assert _first_error(TransformationCreate, {**base, "email_to": "x@y.org\nz"})[0] == (
        "email_to.0"
    )
    accepted = TransformationCreate.model_validate({**base, "email_to": "a@b.org; c@d.org"})
    assert accepted.email_to == ["a@b.org", "c@d.org"]


def test_stored_values_are_shown_as_they_are() -> None:
    """A job stored before the checks existed can still be read (and then fixed)."""
    fields = JobOut.model_fields
    assert fields["email_subject"].annotation is str
    assert fields["email_to"].annotation == list[str]


def test_event_urls_and_prefixes_are_one_line() -> None:
    assert JobEvent(url="https://hooks.example/run?x=1").url.endswith("x=1")
    for url in ("https://hooks.example/a b", "https://hooks.example/\x01"):
        with pytest.raises(ValidationError):
            JobEvent(url=url)
    assert EngineSettings(table_name_prefix="stg_").table_name_prefix == "stg_"


@pytest.mark.parametrize(
    "statement", ["REPLICATE [a\r\nb]", 'REPLICATE "a\nb" SELECT * FROM t', "REPLICATE [s\n].[t]"]
)
def test_destinations_that_name_files_are_one_line(statement: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        checked_statement(statement)
    assert caught.value.field == "query" and "destination name" in caught.value.message


@pytest.mark.parametrize(
    "name",
    [
        "report\r\nSet-Cookie: a=b.csv",
        'we"ird;name.csv',
        "ünïcode\n.csv",
        "../../etc/passwd",
        "\x7f",
    ],
)
def test_download_names_cannot_break_the_header(name: str) -> None:
    value = disposition(name)
    value.encode("latin-1")  # a header value must be latin-1 (ASCII here)
    assert not any(ch in value for ch in "\r\n\x00\x7f")
    assert value.startswith('attachment; filename="') and "/" not in value.split(";")[1]
    assert value.count('"') == 2


def test_stored_subjects_and_recipients_are_mailed_on_one_line() -> None:
    settings = Settings(smtp_from="sync@example.com")
    facts = {"name": "nightly", "status": "completed", "kind": "job", "run_id": "r1"}
    notifications = {"email_subject": "Report\r\nBcc: x@evil.org", "email_to": ["a@b.org\n"]}
    message = compose(settings, notifications, facts)
    assert message["Subject"] == "Report  Bcc: x@evil.org"
    assert message.as_bytes().count(b"Bcc") == 1  # in the subject line, not a header
    assert "\n" not in one_line("a\nb\u2028c")
