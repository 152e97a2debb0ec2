"""Secrets at rest and in sight: encryption of connection secrets, and masking.

Connection passwords and secret options are stored encrypted (Fernet) with a key from
`CONVEYOR_SECRET_KEY` or generated once into the data directory. Everything shown to a
person — API responses, log lines, error messages — goes through `mask_url` or `redact`
first, so a secret never leaves the process in clear text.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken

from conveyor.errors import ConfigurationError

MASK = "***"
_SECRET_OPTION = re.compile(r"pass|secret|token|api_?key|private|credential", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^@\s/]+)@")
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<key>\b(?:password|pwd|passwd|secret|token|api_key)\s*[=:]\s*)(?P<value>[^\s;,&'\"]+)",
    re.IGNORECASE,
)


def is_secret_option(name: str) -> bool:
    """Whether a connection option holds a secret, judged by its name."""
    return bool(_SECRET_OPTION.search(name))


def load_or_create_key(data_dir: Path, configured: str | None) -> bytes:
    """Return the Fernet key: the configured one, or one kept in `<data_dir>/secret.key`."""
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
        self._fernet = Fernet(key)

    def seal(self, secrets: dict[str, Any]) -> str | None:
        """Encrypt a dict of secrets; None when there is nothing to hide."""
        if not secrets:
            return None
        return self._fernet.encrypt(json.dumps(secrets).encode()).decode()

    def open(self, sealed: str | None) -> dict[str, Any]:
        """Decrypt what `seal` produced."""
        if not sealed:
            return {}
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise ConfigurationError(
                "connection secrets cannot be decrypted: CONVEYOR_SECRET_KEY differs from the "
                "key they were stored with"
            ) from exc
        REDACTOR.add(*[str(v) for v in value.values() if isinstance(v, str | int)])
        return value


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
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


def with_password(url: str, password: str | None) -> str:
    """Put a password back into a URL that `split_password` took it out of."""
    if password is None:
        return url
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def mask_url(url: str) -> str:
    """The URL as it may be shown: its password replaced by `***`."""
    without, password = split_password(url)
    return url if password is None else masked_form(without)


def masked_form(url_without_password: str) -> str:
    """A URL whose password was taken out, shown with `***` where the password was."""
    parts = urlsplit(url_without_password)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def mask_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options as they may be shown: secret values replaced by `***`."""
    return {
        k: (MASK if is_secret_option(k) and v not in (None, "") else v) for k, v in options.items()
    }


class Redactor:
    """Scrubs known secret values and URL passwords out of any text shown to people."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        """Remember secrets so that later text containing them is scrubbed."""
        with self._lock:
            self._secrets.update(v for v in values if v and len(v) >= 3)

    def redact(self, text: str) -> str:
        """Return `text` with every known secret and URL password replaced by `***`."""
        if not text:
            return text
        text = _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
        text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m['key']}{MASK}", text)
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
            encoded = quote(secret, safe="")
            if encoded != secret and encoded in text:
                text = text.replace(encoded, MASK)
        return text


REDACTOR = Redactor()
"""The process-wide redactor; logging and error reporting pass through it."""
