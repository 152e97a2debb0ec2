"""Token lifetimes by role and settings, as a table of cases."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from conveyor.config import Settings
from conveyor.domain import Role
from conveyor.errors import InvalidInput
from conveyor.services.token_lifetimes import Lifetime, lifetime


@pytest.mark.parametrize(
    ("default", "maximum", "role", "expected"),
    [
        (None, None, Role.admin, Lifetime(None, None)),
        (None, None, Role.standard, Lifetime(None, None)),
        (None, None, Role.viewer, Lifetime(30, 30)),
        (7, None, Role.standard, Lifetime(7, None)),
        (7, None, Role.viewer, Lifetime(7, 30)),
        (60, None, Role.viewer, Lifetime(60, 60)),
        (None, 90, Role.standard, Lifetime(90, 90)),
        (None, 90, Role.viewer, Lifetime(90, 90)),
        (None, 10, Role.viewer, Lifetime(10, 10)),
        (7, 90, Role.admin, Lifetime(7, 90)),
        (7, 90, Role.viewer, Lifetime(7, 90)),
    ],
)
def test_lifetime_by_role_and_settings(
    default: int | None, maximum: int | None, role: Role, expected: Lifetime
) -> None:
    settings = Settings(token_default_days=default, token_max_days=maximum)
    assert lifetime(settings, role) == expected


def test_asked_days_are_capped_by_the_maximum() -> None:
    rule = Lifetime(default_days=7, max_days=90)
    assert rule.days(None) == 7
    assert rule.days(90) == 90
    with pytest.raises(InvalidInput) as refused:
        rule.days(91)
    assert refused.value.field == "expires_in_days" and refused.value.extra["maximum"] == 90
    assert Lifetime(None, None).days(None) is None
    assert Lifetime(None, None).days(3650) == 3650


def test_existing_expiries_are_capped_from_now() -> None:
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rule = Lifetime(default_days=30, max_days=30)
    assert rule.cap(None, now) == now + dt.timedelta(days=30)
    assert rule.cap(now + dt.timedelta(days=99), now) == now + dt.timedelta(days=30)
    assert rule.cap(now + dt.timedelta(days=2), now) == now + dt.timedelta(days=2)
    assert Lifetime(None, None).cap(None, now) is None


def test_a_default_longer_than_the_maximum_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="TOKEN_DEFAULT_DAYS"):
        Settings(token_default_days=100, token_max_days=30)
