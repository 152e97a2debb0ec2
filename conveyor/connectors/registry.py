"""Which connector serves which URL scheme: cheap declarations, lazily imported code.

A `ConnectorSpec` names the schemes, the options model and the capabilities; its
implementation is imported only when a connection is opened, so listing connectors or
validating a job never loads a database driver. Third-party packages add connectors
through the `conveyor.connectors` entry point group, each entry naming a `ConnectorSpec`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from conveyor.connectors.base import Capability, Connector
from conveyor.errors import InvalidInput
from conveyor.policy import Reach


class NoOptions(BaseModel):
    """Options of a connector that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector's declaration: schemes, options, capabilities, and where its code lives."""

    name: str
    schemes: tuple[str, ...]
    implementation: str  # "package.module:ClassName"
    capabilities: frozenset[Capability]
    options: type[BaseModel] = NoOptions
    description: str = ""
    secret_options: tuple[str, ...] = field(default=())
    admin_only: bool = False
    """Only admins may create connections of it (its data is not kept per workspace)."""

    def load(self) -> Callable[..., Connector]:
        """Import and return the connector class."""
        module_name, _, attribute = self.implementation.partition(":")
        return cast(
            Callable[..., Connector], getattr(importlib.import_module(module_name), attribute)
        )

    def validate_options(self, options: dict[str, Any]) -> BaseModel:
        """Check connection options against the connector's model; 422 naming the field."""
        try:
            return self.options.model_validate(options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(
                f"option {where!r}: {first['msg']}", field=f"options.{where}"
            ) from exc


def _builtin_specs() -> list[ConnectorSpec]:
    from conveyor.connectors import specs

    return list(specs.BUILTIN)


@cache
def _all_specs() -> dict[str, ConnectorSpec]:
    by_scheme: dict[str, ConnectorSpec] = {}
    for spec in _builtin_specs() + list(_plugin_specs()):
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
