"""How long a new API token lives: the server's default and maximum, and a viewer's.

`CONVEYOR_TOKEN_DEFAULT_DAYS` is the lifetime of a token created without
`expires_in_days`; `CONVEYOR_TOKEN_MAX_DAYS` is the longest one may ask for (and, when
no default is set, the default: a maximum means every token expires). With neither set,
tokens of admins and standard users never expire unless asked to.

A viewer's token always expires — a read-only account is the one most often handed to
a dashboard or a colleague, and a forgotten credential should die on its own — so for
viewers an unset default and maximum are `VIEWER_TOKEN_DAYS` (or the server's default
if longer). The owner's role decides, not the caller's: an admin minting a token for a
viewer gets a viewer's token.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from conveyor.config import Settings
from conveyor.domain import Role
from conveyor.errors import InvalidInput

VIEWER_TOKEN_DAYS = 30
FIELD = "expires_in_days"


@dataclass(frozen=True)
class Lifetime:
    """A role's token lifetime in days: the default and the maximum (None: unlimited)."""

    default_days: int | None
    max_days: int | None

    def days(self, requested: int | None) -> int | None:
        """The lifetime of a token asked for with `requested` days (None: not given)."""
        if requested is None:
            return self.default_days
        if self.max_days is not None and requested > self.max_days:
            raise InvalidInput(
                f"{FIELD}: a token of this user may last at most {self.max_days} days",
                field=FIELD,
                maximum=self.max_days,
            )
        return requested

    def cap(self, expires_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        """An existing token's expiry brought within the maximum, counted from `now`."""
        if self.max_days is None:
            return expires_at
        latest = now + dt.timedelta(days=self.max_days)
        return latest if expires_at is None or expires_at > latest else expires_at


def lifetime(settings: Settings, role: Role) -> Lifetime:
    """The token lifetime of a user with `role` under the server's settings."""
    maximum = settings.token_max_days
    default = settings.token_default_days or maximum
    if role is Role.viewer:
        default = default or VIEWER_TOKEN_DAYS
        maximum = maximum or max(VIEWER_TOKEN_DAYS, default)
    return Lifetime(default_days=default, max_days=maximum)
