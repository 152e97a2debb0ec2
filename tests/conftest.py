"""Fixtures shared by every tier of tests, and the test-only connectors they use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from conveyor.config import Settings
from tests import plugin_path

ADMIN_TOKEN = "cvy_test_admin_token_0123456789"

plugin_path.install()  # memory:// for this process and every process it starts


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a server whose data lives in the test's temporary folder."""
    return Settings(
        data_dir=tmp_path / "data",
        admin_token=ADMIN_TOKEN,
        secret_key=Fernet.generate_key().decode(),
        workers=2,
        poll_interval=0.2,
        heartbeat_interval=0.3,
        cancel_grace=2.0,
        log_format="text",
    )


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """Headers authenticating as the first admin."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(autouse=True)
def _reset_memory_connector() -> Iterator[None]:
    yield
    try:
        from conveyor.testing import reset_memory
    except ImportError:
        return
    reset_memory()
