"""Values that end up in HTTP or mail headers: refused at the door when they could break one.

A header ends at a line break. A subject `"Report\\r\\nBcc: someone@else"` accepted into a
job would add a recipient to every email the job sends — or, as Python's `email` refuses
it, make every run's follow-up fail. So the fields that become headers (an email's
subject and recipients, the names that become a download's file name, a webhook's URL)
are checked where every surface's input passes, the pydantic models and the services,
and refused with 422 naming the field. What is already stored is shown as it is and
made safe where it is used (`one_line`, and the download names' RFC 6266 encoding).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters (C0, DEL, C1 with NEL) and Unicode's line and paragraph separators."""

_ATOM = r"[^\s\x00-\x1f\x7f-\x9f\u2028\u2029\"(),.:;<>@\[\\\]]+"
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")


def breaking_character(value: str) -> str | None:
    """The first character of `value` that could end or split a header line, if any."""
    found = BREAKING.search(value)
    return found.group() if found else None


def single_line(value: str) -> str:
    """A pydantic check: no line breaks or other control characters in the value."""
    if (bad := breaking_character(value)) is not None:
        raise ValueError(
            f"must not contain line breaks or control characters (found {bad!r}): "
            "it becomes an email or HTTP header"
        )
    return value


def email_address(value: str) -> str:
    """A pydantic check: a plain address `local@domain.tld`, nothing around it."""
    if _ADDRESS.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not an email address")
    return value


def split_addresses(value: object) -> object:
    """`"a@x.org, b@y.org"` (or `;`-separated) as a list; lists pass through."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,;]", value) if part.strip()]
    return value


def one_line(value: str) -> str:
    """The value with each breaking character replaced by a space (for stored values)."""
    return BREAKING.sub(" ", value)


HeaderText = Annotated[str, AfterValidator(single_line)]
"""A string that becomes (part of) a header: one line, no control characters."""

EmailAddress = Annotated[str, AfterValidator(email_address)]
"""One email address."""

EmailAddresses = Annotated[list[EmailAddress], BeforeValidator(split_addresses)]
"""Email addresses, as a list or one comma-separated string."""
