"""Which URL parameters of a connection may name a stored certificate, and what they name.

Shared by `connection_tls` (which swaps the names for the certificates when a connection
opens) and `certificates` (which tells which connections name a certificate): one
reading of a URL for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from urllib.parse import unquote_plus, urlsplit

from conveyor.schemas.certificates import NAME_PATTERN

ROOT, CLIENT = "root", "client"
POSTGRES = {"sslrootcert": ROOT, "sslcert": CLIENT, "sslkey": CLIENT}
MYSQL = {"ssl_ca": ROOT, "ssl_cert": CLIENT, "ssl_key": CLIENT}
PARAMETERS: Mapping[str, Mapping[str, str]] = {
    "postgresql": POSTGRES,
    "postgres": POSTGRES,
    "mysql": MYSQL,
    "mariadb": MYSQL,
}
"""Per URL scheme, the TLS parameters that may name a stored certificate, and its role."""
NAMES_ONLY = frozenset({"mysql", "mariadb"})
"""Schemes whose TLS parameters must name stored certificates (no driver file paths)."""


def is_name(value: str) -> bool:
    """Whether a TLS parameter's value names a stored certificate rather than a file."""
    return value != "system" and re.fullmatch(NAME_PATTERN, value) is not None


def pieces(url: str) -> Iterator[tuple[str, str, str, str | None]]:
    """Each query piece of `url` as (raw piece, name, value, role): the role when the
    parameter is a TLS one of the URL's scheme, else None."""
    parts = urlsplit(url)
    roles = PARAMETERS.get(parts.scheme.lower(), {})
    for piece in parts.query.split("&") if parts.query else ():
        raw_name, _, raw_value = piece.partition("=")
        name = unquote_plus(raw_name)
        yield piece, name, unquote_plus(raw_value), roles.get(name)


def named_in(url: str) -> set[str]:
    """The certificate names a connection URL's TLS parameters name."""
    return {value for _, _, value, role in pieces(url) if role is not None and is_name(value)}
