"""CData connections (`ProviderName` + `ConnectionString`) as Conveyor connection URLs.

CData describes a connection by a provider and an ADO.NET-style string of `key=value`
pairs; Conveyor by a URL and options. What is understood:

- any provider, `ConnectionString` `URL=<a Conveyor URL>` (or the bare URL), with more
  `key=value` pairs becoming options: `URL=sqlite:///shop.db;Timeout=5`;
- SQLite and DuckDB: `Database=` (or `Data Source=`, `File=`) the path;
- PostgreSQL, MySQL/MariaDB: `Server=` (`Host=`), `Port=`, `Database=`, `User=` (`User Id=`,
  `Username=`, `UID=`), `Password=` (`PWD=`), other pairs as options;
- files (`CSV`, `Parquet`, `JSON`, …): `URI=` (`Path=`, `Folder=`) and `Format=`.

A connection is always shown as `URL=<its URL, password masked>` plus its options, secret
ones masked; sending that string back unchanged keeps the stored password.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from conveyor.compat.cdata.bodies import canonical
from conveyor.errors import InvalidInput
from conveyor.schemas.connections import ConnectionOut

PROVIDERS = {
    "sqlite": "sqlite",
    "systemdatasqlite": "sqlite",
    "microsoftdatasqlite": "sqlite",
    "duckdb": "duckdb",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "npgsql": "postgresql",
    "pgsql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "file": "file",
    "files": "file",
    "localfiles": "file",
    "csv": "file",
    "parquet": "file",
    "json": "file",
    "ndjson": "file",
    "xlsx": "file",
    "excel": "file",
}
PROVIDER_NAMES = {
    "sqlite": "SQLite",
    "duckdb": "DuckDB",
    "postgresql": "PostgreSQL",
    "mysql": "MySQL",
    "mariadb": "MariaDB",
    "file": "File",
}
URL_KEYS = ("url", "uri", "connectionurl")
PATH_KEYS = ("database", "datasource", "file", "path", "dbq")
HOST_KEYS = ("server", "host", "hostname", "address")
DATABASE_KEYS = ("database", "dbname", "initialcatalog")
USER_KEYS = ("user", "userid", "username", "uid")
PASSWORD_KEYS = ("password", "pwd")
FOLDER_KEYS = ("uri", "path", "folder", "directory", "location")
_PAIR = re.compile(
    r"""\s*(?P<key>[^=;]+?)\s*=\s*(?P<value>"(?:[^"]|"")*"|'(?:[^']|'')*'|[^;]*)\s*(?:;|$)"""
)


def pairs(text: str) -> dict[str, str]:
    """`key=value;…` (values optionally quoted) as a dict keyed canonically."""
    found: dict[str, str] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            raise InvalidInput(
                f"ConnectionString: expected key=value at position {position}",
                field="ConnectionString",
                position=position,
            )
        value = match.group("value").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace(value[0] * 2, value[0])
        found[canonical(match.group("key"))] = value
        position = match.end()
    return found


def provider_scheme(provider: str | None) -> str | None:
    """The URL scheme of a CData provider name (`CData.PostgreSQL`, `SQLite`, …)."""
    if not provider:
        return None
    key = canonical(provider).removeprefix("cdata").removeprefix("systemdata")
    return PROVIDERS.get(key) or PROVIDERS.get(canonical(provider))


def _take(found: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in found:
            return found.pop(key)
    return None


def _option_name(key: str) -> str:
    return key if "_" in key else re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def to_url(provider: str | None, connection_string: str) -> tuple[str, dict[str, Any]]:
    """The URL and options a CData connection stands for; 400 when it cannot be understood."""
    text = connection_string.strip()
    if re.match(r"^[A-Za-z][\w+.\-]*://", text):
        return text, {}
    raw_keys = {canonical(m.group("key")): m.group("key").strip() for m in _PAIR.finditer(text)}
    found = pairs(text)
    url = next((found.pop(k) for k in URL_KEYS if "://" in found.get(k, "")), None)
    scheme = provider_scheme(provider)
    if url is None:
        if scheme is None:
            known = ", ".join(sorted(set(PROVIDER_NAMES.values())))
            raise InvalidInput(
                f"ProviderName {provider!r} is not supported without URL=…; supported: {known}",
                field="ProviderName",
            )
        url = _build(scheme, found)
    options = {_option_name(raw_keys.get(k, k)): v for k, v in found.items()}
    return url, options


def _build(scheme: str, found: dict[str, str]) -> str:
    if scheme in ("sqlite", "duckdb"):
        path = _take(found, PATH_KEYS)
        if not path:
            raise InvalidInput("ConnectionString needs Database=<path>", field="ConnectionString")
        return f"{scheme}:///{path}"
    if scheme == "file":
        folder = _take(found, FOLDER_KEYS)
        if not folder:
            raise InvalidInput("ConnectionString needs URI=<folder>", field="ConnectionString")
        fmt = _take(found, ("format",))
        return f"file://{folder if folder.startswith('/') else '/' + folder}" + (
            f"?format={fmt.lower()}" if fmt else ""
        )
    host = _take(found, HOST_KEYS) or "localhost"
    port = _take(found, ("port",))
    database = _take(found, DATABASE_KEYS) or ""
    user = _take(found, USER_KEYS)
    password = _take(found, PASSWORD_KEYS)
    credentials = ""
    if user:
        credentials = quote(user, safe="")
        if password is not None:
            credentials += ":" + quote(password, safe="")
        credentials += "@"
    return f"{scheme}://{credentials}{host}{':' + port if port else ''}/{quote(database)}"


def shown(connection: ConnectionOut) -> str:
    """The connection string shown for a connection: its masked URL and options."""
    parts = [f"URL={connection.url}"]
    for key, value in sorted(connection.options.items()):
        parts.append(f"{key}={value}")
    return ";".join(parts)


def provider_name(scheme: str) -> str:
    """The provider name shown for a URL scheme."""
    return PROVIDER_NAMES.get(scheme, scheme)
