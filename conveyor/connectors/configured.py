"""What every connector is opened with: its URL, its options and the reach it works within.

`open_connector` calls each connector class as `cls(url, options, reach=reach)`, and a
library caller may leave the options and the reach out. `Configured` takes the three in
one place, so a connector family only names its options model and sets up what is its
own (parse the URL, check the options, per-connection state) in `_configure`. It is no
contract: what a connector can do is still declared by the capability protocols of
`conveyor.connectors.base` it implements.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

from conveyor.policy import Reach

__all__ = ["Configured"]

OptionsT = TypeVar("OptionsT", bound=BaseModel)


class Configured(Generic[OptionsT]):
    """A connector's URL, validated options (`options_model`'s defaults when none are
    given) and reach (a trusted caller's, which reaches everything, when none is given)."""

    options_model: type[OptionsT]
    """The family's options model: the registry validates a connection's options with the
    same model its `ConnectorSpec` names, and a connector opened without options has its
    defaults."""

    def __init__(
        self, url: str, options: OptionsT | None = None, *, reach: Reach | None = None
    ) -> None:
        self.reach = reach or Reach()
        self.url = url
        self.options = options or self.options_model()
        self._configure()

    def _configure(self) -> None:
        """Set up what the family needs from `url`, `options` and `reach`, refusing a bad
        URL or option with `InvalidInput`; connections are opened later, on first use."""
