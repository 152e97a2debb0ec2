"""Secrets: sealed at rest, masked in sight, scrubbed from text."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from conveyor.crypto import (
    Redactor,
    SecretBox,
    load_or_create_key,
    mask_options,
    mask_url,
    split_password,
    with_password,
)
from conveyor.errors import ConfigurationError


def test_password_round_trips_through_split_and_join() -> None:
    url = "postgresql://app:p%40ss:w0rd@db.example.com:5432/shop?sslmode=require"
    bare, password = split_password(url)
    assert password == "p@ss:w0rd"
    assert "w0rd" not in bare
    assert split_password(with_password(bare, password))[1] == password


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("mysql://root:hunter2@localhost/db") == "mysql://root:***@localhost/db"
    assert mask_url("sqlite:///data.db") == "sqlite:///data.db"


def test_secret_options_are_masked_by_name() -> None:
    masked = mask_options({"password": "x", "api_key": "y", "timeout": 5, "sslmode": "require"})
    assert masked == {"password": "***", "api_key": "***", "timeout": 5, "sslmode": "require"}


def test_box_seals_and_opens() -> None:
    box = SecretBox(Fernet.generate_key())
    sealed = box.seal({"password": "hunter2"})
    assert sealed is not None and "hunter2" not in sealed
    assert box.open(sealed) == {"password": "hunter2"}
    with pytest.raises(ConfigurationError, match="CONVEYOR_SECRET_KEY"):
        SecretBox(Fernet.generate_key()).open(sealed)


def test_generated_key_file_is_private(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path, None)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path, None) == key
    with pytest.raises(ConfigurationError):
        load_or_create_key(tmp_path, "not-a-key")


def test_redactor_scrubs_known_secrets_url_passwords_and_assignments() -> None:
    redactor = Redactor()
    redactor.add("s3cr3t-value")
    text = "connect postgresql://u:pw@h/db failed; token s3cr3t-value; password=abc123 rest"
    cleaned = redactor.redact(text)
    assert "pw@" not in cleaned and "s3cr3t-value" not in cleaned and "abc123" not in cleaned
    assert "postgresql://u:***@h/db" in cleaned
