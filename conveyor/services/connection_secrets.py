"""A connection's secrets: sealed when stored, kept when sent back as `***`, in clear to open it.

A connection's secrets are its URL password (`user:password@` or `?password=`), its
secret-named query parameters and its secret options. `seal` takes them out of what is
stored in sight and encrypts them; `shown` puts `***` where they were; `in_clear` puts
them back for the engine, about to open the connection, and nobody else.

Whoever edits a connection sees only `***`, and may send it back to keep a secret
(`with_stored`) — but only while the URL names the server and user the secret was given
for: kept for another host, a `***` would let them point the connection at a server of
their own and be sent a password that was hidden from them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from sqlalchemy import select

from conveyor.connectors.registry import ConnectorSpec, resolve, scheme_of
from conveyor.crypto import (
    MASK,
    PASSWORD_KEY,
    QUERY_KEY,
    is_secret_option,
    mask_url,
    masked_form,
    split_secrets,
    with_secrets,
)
from conveyor.errors import InvalidInput
from conveyor.services.context import Context
from conveyor.store.models import Connection

log = logging.getLogger(__name__)


def seal(
    ctx: Context, spec: ConnectorSpec, url: str, options: Mapping[str, Any]
) -> tuple[str, dict[str, Any], str | None]:
    """Split URL and options into what may be shown and what is sealed: the URL's
    password and secret query parameters, and the secret options."""
    spec.validate_options(spec.normalize(url, options)[1])  # the URL's options too
    bare, secrets = split_secrets(url, spec.secret_options)
    for key, value in secrets.items():
        if _typed(key, value) == MASK:
            what = "password" if key == PASSWORD_KEY else repr(key.removeprefix(QUERY_KEY))
            raise InvalidInput(f"the URL's {what} is '***' but none is stored to keep", field="url")
    secrets.update(
        {k: v for k, v in options.items() if is_secret_option(k) or k in spec.secret_options}
    )
    plain = {k: v for k, v in options.items() if k not in secrets}
    return bare, plain, ctx.box.seal(secrets)


def in_clear(ctx: Context, connection: Connection) -> tuple[str, dict[str, Any]]:
    """The connection's URL and options with its secrets, for opening it."""
    stored = ctx.box.open(connection.sealed_secrets)
    url = with_secrets(connection.url, _url_secrets(stored))
    return url, {**connection.options, **_secret_options(stored)}


def shown(ctx: Context, connection: Connection) -> tuple[str, dict[str, Any]]:
    """The connection's URL and options as shown: `user:***@`, `password=***`, options `***`."""
    stored = ctx.box.open(connection.sealed_secrets)
    # mask_url too: a URL stored before its secret parameters were sealed shows them masked.
    url = masked_form(mask_url(connection.url), _url_secrets(stored))
    return url, {**connection.options, **{k: MASK for k in _secret_options(stored)}}


def with_stored(
    ctx: Context, connection: Connection, url: str | None, options: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """A changed connection's URL and options in clear, its stored secrets kept where the
    change shows `***` (or leaves the options out) — while the URL names the server and
    user they were given for. Pointed elsewhere, they must be given again (422)."""
    stored = ctx.box.open(connection.sealed_secrets)
    kept: list[str] = []
    if url is None:
        url = with_secrets(connection.url, _url_secrets(stored))
    else:
        bare, given = split_secrets(url, resolve(url).secret_options)
        for key, value in given.items():
            if _typed(key, value) == MASK and key in stored:  # else refused by `seal`
                given[key] = stored[key]
                kept.append(key)
        url = with_secrets(bare, given)
    if options is None:
        options = {**connection.options, **_secret_options(stored)}
        kept += _secret_options(stored)
    else:
        options = dict(options)
        for key, value in options.items():
            if value == MASK:
                if key not in stored:
                    raise InvalidInput(
                        f"option {key!r} has no stored value to keep", field=f"options.{key}"
                    )
                options[key] = stored[key]
                kept.append(key)
    if kept and not _same_server(url, connection.url):
        named = ", ".join(
            "the URL's password" if k == PASSWORD_KEY else repr(k.removeprefix(QUERY_KEY))
            for k in kept
        )
        raise InvalidInput(
            f"the URL names another server or user than the stored secrets ({named}) were "
            "given for: they are kept only for their own server; give them again",
            field="url",
        )
    return url, options


def seal_stored_url_secrets(ctx: Context) -> int:
    """Seal the secret query parameters (`?password=`, …) of URLs stored before such
    parameters were sealed; the number of connections changed. Run at every start."""
    changed = 0
    for connection in ctx.session.scalars(select(Connection).where(Connection.url.contains("?"))):
        try:
            bare, found = split_secrets(connection.url)
        except InvalidInput as exc:  # a parameter given twice: leave it for its owner to fix
            log.warning("connection %s: %s", connection.id, exc.message)
            continue
        if found:
            stored = ctx.box.open(connection.sealed_secrets)
            connection.url, connection.sealed_secrets = bare, ctx.box.seal({**stored, **found})
            changed += 1
    if changed:
        log.info("sealed the URL secrets of %d connection(s)", changed)
    return changed


def _same_server(url: str, other: str) -> bool:
    """Whether two URLs connect to the same server as the same user: scheme, user, host
    and port (a URL whose port cannot be read is the same as no other)."""

    def server(text: str) -> tuple[str, str, str | None, int | None]:
        parts = urlsplit(text)
        return scheme_of(text), unquote(parts.username or ""), parts.hostname, parts.port

    try:
        return server(url) == server(other)
    except ValueError:
        return False


def _typed(key: str, value: str) -> str:
    """A URL secret as its owner typed it (query parameters are kept URL-encoded)."""
    return value if key == PASSWORD_KEY else unquote_plus(value)


def _url_secrets(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The sealed secrets that belong in the URL: its password and secret parameters."""
    return {k: v for k, v in stored.items() if k == PASSWORD_KEY or k.startswith(QUERY_KEY)}


def _secret_options(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k not in _url_secrets(stored)}
