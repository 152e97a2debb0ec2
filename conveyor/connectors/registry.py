"""Which connector serves which URL scheme: cheap declarations, lazily imported code.

A `ConnectorSpec` names the schemes, the options model and where the implementation
lives; the implementation is imported only when a connection is opened or what it can
do (its capabilities, derived from the protocols it implements) is asked, so listing
connectors or resolving a URL never loads a database driver. Third-party packages add
connectors through the `conveyor.connectors` entry point group, each entry naming a
`ConnectorSpec`; code that embeds Conveyor (a test suite among them) adds one to its own
process with `register`. Only what ships here is built in: the in-memory connector of
`conveyor.testing` is added by the tests that use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib.metadata import entry_points
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from conveyor.connectors.base import Capability, Connector, capabilities_of
from conveyor.connectors.duckdb.options import DuckDBOptions
from conveyor.connectors.files.options import FileOptions
from conveyor.connectors.mysql.options import MySQLOptions
from conveyor.connectors.postgres.options import PostgresOptions
from conveyor.connectors.server_options import ServerOptions
from conveyor.connectors.sqlite.options import SQLiteOptions
from conveyor.errors import ConfigurationError, InvalidInput
from conveyor.policy import Reach

__all__ = [
    "ConnectorSpec",
    "NoOptions",
    "ServerOptions",
    "open_connector",
    "register",
    "resolve",
    "scheme_of",
    "specs",
]


class NoOptions(BaseModel):
    """Options of a connector that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector's declaration: schemes, options, and where its code lives."""

    name: str
    schemes: tuple[str, ...]
    implementation: str  # "package.module:ClassName"
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

    @cached_property
    def capabilities(self) -> frozenset[Capability]:
        """What the connector can do: the protocols its class implements.

        Asking imports the implementation (once per process); listing connectors does not.
        """
        try:
            implementation = self.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"connector {self.name!r} cannot be loaded from {self.implementation!r}: {exc}"
            ) from exc
        return capabilities_of(cast(type, implementation))

    def normalize(self, url: str, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The URL without the query parameters that are options, and the options with
        them: every option works in the URL query and in `options` alike, and where both
        give one, `options` wins. The connector then reads each option in one place.
        A password stays where it is: the URL's own rules take it out (see `server`)."""
        parts = urlsplit(url)
        if not parts.query:
            return url, dict(options)
        names = set(self.options.model_fields) - {"password"}
        kept: list[tuple[str, str]] = []
        merged = dict(options)
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in names:
                merged.setdefault(key, value)
            else:
                kept.append((key, value))
        # Only the query is rewritten: urlunsplit would turn `duckdb:////abs` (an empty
        # host, then an absolute path) into `duckdb://abs`.
        base = url.split("?", 1)[0]
        return (f"{base}?{urlencode(kept)}" if kept else base), merged

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


def _family(
    name: str,
    connector: str,
    options: type[BaseModel],
    description: str,
    schemes: tuple[str, ...] = (),
) -> ConnectorSpec:
    """A connector family of this package: its class `connector` is in
    `conveyor.connectors.<name>.connector`; its scheme is its name unless `schemes` says."""
    implementation = f"conveyor.connectors.{name}.connector:{connector}"
    return ConnectorSpec(name, schemes or (name,), implementation, options, description)


BUILTIN: tuple[ConnectorSpec, ...] = (
    _family("sqlite", "SQLiteConnector", SQLiteOptions, "A SQLite database file."),
    _family("duckdb", "DuckDBConnector", DuckDBOptions, "A DuckDB database file."),
    _family(
        "files",
        "FileConnector",
        FileOptions,
        "A folder of csv, parquet, json, ndjson or xlsx files, one table per file.",
        schemes=("file",),
    ),
    _family(
        "postgres",
        "PostgresConnector",
        PostgresOptions,
        "A PostgreSQL database: binary COPY both ways through ADBC.",
        schemes=("postgresql", "postgres"),
    ),
    _family(
        "mysql",
        "MySQLConnector",
        MySQLOptions,
        "A MySQL or MariaDB database: Arrow reads, LOAD DATA LOCAL INFILE writes.",
        schemes=("mysql", "mariadb"),
    ),
)

_REGISTERED: list[ConnectorSpec] = []


def register(spec: ConnectorSpec) -> None:
    """Add a connector to this process only (tests, an application embedding Conveyor).

    A built-in scheme keeps its built-in connector; a registered one wins over a plugin's.
    Processes this one starts do not inherit it: a connector every process of a server
    must know (its run processes included) is installed as a plugin (entry point).
    """
    if spec not in _REGISTERED:
        _REGISTERED.append(spec)
    _all_specs.cache_clear()


@cache
def _all_specs() -> dict[str, ConnectorSpec]:
    by_scheme: dict[str, ConnectorSpec] = {}
    for spec in [*BUILTIN, *_REGISTERED, *_plugin_specs()]:
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
    url, merged = spec.normalize(url, options or {})
    validated = spec.validate_options(merged)
    return spec.load()(url, validated, reach=reach or Reach())
