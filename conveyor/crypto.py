"""Secrets at rest and in sight: encryption of connection secrets, and masking.

A connection's secrets are its URL password (`user:password@`), its secret-named query
parameters (`?password=`, `?sslpassword=`, `?api_key=`, …) and its secret options. They
are stored encrypted (Fernet) with a key from `CONVEYOR_SECRET_KEY` or generated once into
the data directory, and the URL is stored without them. Everything shown to a person goes
through `mask_url` / `masked_form` (URLs) or a `Redactor` (any text) first.

A `Redactor` is a value built from *one* connection's secrets (or a run's two): text about
connection X is masked with X's secrets and nothing else. There is deliberately no
process-wide list of secrets — masking with every workspace's secrets would turn every
error message into an oracle for other workspaces' passwords (a database named like one
comes back as `***`). `redact` masks only what needs no secret to be recognized: URL
userinfo passwords and `password=…` assignments.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from conveyor.errors import ConfigurationError, InvalidInput

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

MASK = "***"
PASSWORD_KEY = "__password__"
"""Where the URL's userinfo password is kept among a connection's sealed secrets."""
QUERY_KEY = "?"
"""Prefix of a secret query parameter's key among the sealed secrets: `?password`."""
MIN_SECRET_LENGTH = 3
"""Shorter secrets are never masked: one or two characters would garble any text."""
ANYWHERE_SECRET_LENGTH = 10
"""Secrets this long are masked wherever they appear; shorter ones only as a whole word,
so that a password `test` masks `user 'test'` but leaves `latest` and `test_db` alone."""
_SECRET_OPTION = re.compile(r"pass|secret|token|api_?key|private|credential", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^@\s/]+)@")
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<key>\b\w*(?:password|pwd|passwd|secret|token|api_?key)\s*[=:]\s*)"
    r"(?P<value>[^\s;,&'\"]+)",
    re.IGNORECASE,
)


def is_secret_option(name: str) -> bool:
    """Whether a connection option holds a secret, judged by its name."""
    return bool(_SECRET_OPTION.search(name))


def load_or_create_key(data_dir: Path, configured: str | None) -> bytes:
    """Return the Fernet key: the configured one, or one kept in `<data_dir>/secret.key`."""
    from cryptography.fernet import Fernet  # the rest of this module serves `conveyor run` too

    if configured:
        key = configured.encode()
        try:
            Fernet(key)
        except ValueError as exc:
            raise ConfigurationError(
                "CONVEYOR_SECRET_KEY must be 32 url-safe base64-encoded bytes "
                "(generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from exc
        return key
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class SecretBox:
    """Encrypts and decrypts the secret part of a connection."""

    def __init__(self, key: bytes) -> None:
        from cryptography.fernet import Fernet

        self._fernet: Fernet = Fernet(key)

    def seal(self, secrets: dict[str, Any]) -> str | None:
        """Encrypt a dict of secrets; None when there is nothing to hide."""
        if not secrets:
            return None
        return self._fernet.encrypt(json.dumps(secrets).encode()).decode()

    def open(self, sealed: str | None) -> dict[str, Any]:
        """Decrypt what `seal` produced."""
        if not sealed:
            return {}
        from cryptography.fernet import InvalidToken

        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise ConfigurationError(
                "connection secrets cannot be decrypted: CONVEYOR_SECRET_KEY differs from the "
                "key they were stored with"
            ) from exc
        return value


def _join(parts: SplitResult) -> str:
    """`urlunsplit` that keeps `scheme://` before an empty authority (`sqlite:///x.db`,
    `file:///dir`), which `urlunsplit` would shorten to `scheme:/x.db`."""
    if not parts.scheme or parts.netloc:
        return urlunsplit(parts)
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme}://{parts.path}{query}{fragment}"


def split_password(url: str) -> tuple[str, str | None]:
    """Split a URL into its form without password and the (decoded) password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}@{host}" if user else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return _join(parts._replace(netloc=netloc)), unquote(parts.password)


def with_password(url: str, password: str | None) -> str:
    """Put a password back into a URL that `split_password` took it out of."""
    if password is None:
        return url
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return _join(parts._replace(netloc=netloc))


def _query_pieces(query: str) -> list[tuple[str, str, str]]:
    """`a=1&b=2` as (decoded name, raw piece, raw value), empty pieces left out."""
    pieces = []
    for piece in query.split("&"):
        if piece:
            raw_name, _, raw_value = piece.partition("=")
            pieces.append((unquote_plus(raw_name), piece, raw_value))
    return pieces


def is_secret_parameter(name: str, secret_names: Iterable[str] = ()) -> bool:
    """Whether a URL query parameter holds a secret: named like a secret option, or one of
    the connector's own secret option names."""
    return is_secret_option(name) or name in set(secret_names)


def split_secrets(url: str, secret_names: Iterable[str] = ()) -> tuple[str, dict[str, str]]:
    """The URL as it may be stored — no userinfo password, no secret query parameter — and
    what was taken out: `PASSWORD_KEY` → the decoded password, `?name` → the parameter's
    raw (still URL-encoded) value, so that `with_secrets` puts back exactly what was given.

    A secret parameter given twice, or a `?password=` that differs from the userinfo
    password, is refused (422): which one the driver would use is anyone's guess.
    """
    names = set(secret_names)
    bare, password = split_password(url)
    secrets: dict[str, str] = {}
    if password is not None:
        secrets[PASSWORD_KEY] = password
    parts = urlsplit(bare)
    kept = []
    for name, piece, raw_value in _query_pieces(parts.query):
        if not is_secret_parameter(name, names):
            kept.append(piece)
            continue
        key = QUERY_KEY + name
        if key in secrets:
            raise InvalidInput(f"the URL gives the parameter {name!r} twice", field="url")
        secrets[key] = raw_value
    given = secrets.get(QUERY_KEY + "password")
    typed = None if given is None else unquote_plus(given)
    shown = MASK in (password, typed)  # sent back masked: compared once the secret is put back
    if password is not None and typed is not None and password != typed and not shown:
        raise InvalidInput(
            "the URL gives two different passwords (user:password@ and ?password=)", field="url"
        )
    if len(kept) != len(_query_pieces(parts.query)):
        bare = _join(parts._replace(query="&".join(kept)))
    return bare, secrets


def with_secrets(url: str, secrets: Mapping[str, Any]) -> str:
    """Put back into a URL what `split_secrets` took out of it (other keys are ignored:
    the sealed secrets also hold the connection's secret options)."""
    url = with_password(url, secrets.get(PASSWORD_KEY))
    added = [
        f"{quote(key[len(QUERY_KEY) :], safe='')}={value}"
        for key, value in secrets.items()
        if key.startswith(QUERY_KEY)
    ]
    return _with_parameters(url, added)


def _with_parameters(url: str, pieces: list[str]) -> str:
    if not pieces:
        return url
    parts = urlsplit(url)
    query = "&".join([parts.query, *pieces] if parts.query else pieces)
    return _join(parts._replace(query=query))


def mask_url(url: str, secret_names: Iterable[str] = ()) -> str:
    """The URL as it may be shown: its password and secret parameters replaced by `***`."""
    names = set(secret_names)
    parts = urlsplit(url)
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{user.partition(':')[0]}:{MASK}@{host}")
    if parts.query:
        pieces = [
            f"{piece.partition('=')[0]}={MASK}" if is_secret_parameter(name, names) else piece
            for name, piece, _ in _query_pieces(parts.query)
        ]
        parts = parts._replace(query="&".join(pieces))
    return _join(parts)


def masked_form(url_without_secrets: str, secret_keys: Iterable[str] = (PASSWORD_KEY,)) -> str:
    """A URL whose secrets `split_secrets` took out, shown with `***` where they were:
    `user:***@` for a password, `name=***` for each secret parameter."""
    keys = list(secret_keys)
    url = url_without_secrets
    if PASSWORD_KEY in keys:
        parts = urlsplit(url)
        user, _, host = parts.netloc.rpartition("@")
        url = _join(parts._replace(netloc=f"{user}:{MASK}@{host}"))
    masked = [
        f"{quote(key[len(QUERY_KEY) :], safe='')}={MASK}"
        for key in keys
        if key.startswith(QUERY_KEY)
    ]
    return _with_parameters(url, masked)


def mask_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options as they may be shown: secret values replaced by `***`."""
    return {
        k: (MASK if is_secret_option(k) and v not in (None, "") else v) for k, v in options.items()
    }


def url_secrets(url: str, secret_names: Iterable[str] = ()) -> list[str]:
    """The secrets a URL carries (decoded), read leniently: never raises."""
    names = set(secret_names)
    try:
        parts = urlsplit(url)
        found = [unquote(parts.password)] if parts.password else []
    except ValueError:
        return []
    for name, _, raw_value in _query_pieces(parts.query):
        if is_secret_parameter(name, names):
            found.extend({raw_value, unquote(raw_value), unquote_plus(raw_value)})
    return found


def redact(text: str) -> str:
    """Mask what needs no knowledge of a secret to be recognized: URL userinfo passwords
    and `password=…`-style assignments. For stored texts (masked when they were written)
    and for anything not about one connection."""
    if not text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _SECRET_ASSIGNMENT.sub(lambda m: f"{m['key']}{MASK}", text)


@dataclass(frozen=True)
class Redactor:
    """Masks one connection's own secrets (or one run's: its source's and destination's)
    in text shown about it, on top of the generic patterns of `redact`.

    A value, never shared across connections: build it with `of` or `for_connection`
    where the secrets are at hand, combine two with `|`. Its repr never shows a secret.
    """

    secrets: frozenset[str] = field(default=frozenset(), repr=False)

    @classmethod
    def of(cls, *values: object) -> Redactor:
        """A redactor of these secrets (None, empty and too short values are left out);
        each is also masked in its URL-encoded forms."""
        found: set[str] = set()
        for value in values:
            if value is None or isinstance(value, bool) or not isinstance(value, str | int):
                continue
            text = str(value)
            if len(text) >= MIN_SECRET_LENGTH:
                found.update({text, quote(text, safe=""), quote_plus(text, safe="")})
        return cls(frozenset(found))

    @classmethod
    def for_connection(
        cls, url: str, options: Mapping[str, Any], secret_names: Iterable[str] = ()
    ) -> Redactor:
        """The redactor of a connection opened with this URL and these options: its URL
        password, its secret query parameters and its secret options."""
        names = set(secret_names)
        return cls.of(
            *url_secrets(url, names),
            *(v for k, v in options.items() if is_secret_parameter(k, names)),
        )

    def __or__(self, other: Redactor) -> Redactor:
        return Redactor(self.secrets | other.secrets)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        if not self.secrets:
            return None
        alternatives = [
            re.escape(secret)
            if len(secret) >= ANYWHERE_SECRET_LENGTH
            else rf"(?<!\w){re.escape(secret)}(?!\w)"
            for secret in sorted(self.secrets, key=len, reverse=True)
        ]
        return re.compile("|".join(alternatives))

    def redact(self, text: str) -> str:
        """`text` with these secrets, URL passwords and secret assignments masked."""
        if not text:
            return text
        text = redact(text)
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)


NO_SECRETS = Redactor()
"""A redactor that knows no secret: the generic patterns of `redact` only."""
