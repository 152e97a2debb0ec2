"""Which connector serves which URL scheme: cheap declarations, lazily imported code.

A `ConnectorSpec` names the schemes, the options model and where the implementation
lives; the implementation is imported only when a connection is opened or what it can
do (its capabilities, derived from the protocols it implements) is asked, so listing
connectors or resolving a URL never loads a database driver. Third-party packages add
connectors through the `conveyor.connectors` entry point group, each entry naming a
`ConnectorSpec`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlsplit

from conveyor.connectors.base import Connector
from conveyor.connectors.specs import BUILTIN, ConnectorSpec, NoOptions
from conveyor.errors import InvalidInput
from conveyor.policy import Reach

__all__ = [
    "ConnectorSpec",
    "NoOptions",
    "open_connector",
    "resolve",
    "scheme_of",
    "specs",
]


@cache
def _all_specs() -> dict[str, ConnectorSpec]:
    by_scheme: dict[str, ConnectorSpec] = {}
    for spec in [*BUILTIN, *_plugin_specs()]:
        for scheme in spec.schemes:
            by_scheme.setdefault(scheme, spec)
    return by_scheme


def _plugin_specs() -> Iterable[ConnectorSpec]:
    for entry in entry_points(group="conveyor.connectors"):
        spec = entry.load()
        if isinstance(spec, ConnectorSpec):
            yield spec


def specs() -> list[ConnectorSpec]:
    """Every known connector, once each."""
    return list({spec.name: spec for spec in _all_specs().values()}.values())


def scheme_of(url: str) -> str:
    """The URL's scheme, lower case, without a driver suffix (`postgresql+psycopg` → `postgresql`)."""
    return urlsplit(url).scheme.lower().split("+", 1)[0]


def resolve(url: str) -> ConnectorSpec:
    """The connector for a URL; 422 naming the known schemes when there is none."""
    scheme = scheme_of(url)
    if not scheme or "://" not in url:
        raise InvalidInput(f"{url!r} is not a connection URL (expected scheme://…)", field="url")
    spec = _all_specs().get(scheme)
    if spec is None:
        known = ", ".join(sorted(_all_specs()))
        raise InvalidInput(
            f"unknown connection scheme {scheme!r}; known schemes: {known}", field="url"
        )
    return spec


def open_connector(
    url: str, options: dict[str, Any] | None = None, reach: Reach | None = None
) -> Connector:
    """Open a connector for a URL with its (plain-text) options, within `reach`
    (default: a trusted caller's, which reaches everything)."""
    spec = resolve(url)
    validated = spec.validate_options(options or {})
    return spec.load()(url, validated, reach=reach or Reach())
