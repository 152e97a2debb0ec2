"""Integration fixtures: the API in-process on a real store — SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.policy import hosts
from conveyor.runtime import Runtime
from tests.services import fresh_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """Settings on each metadata store the server supports."""
    if request.param == "sqlite":
        yield settings
        return
    with fresh_pg_database() as url:
        yield settings.model_copy(update={"database_url": url})


@pytest.fixture
def runtime(store_settings: Settings) -> Iterator[Runtime]:
    """A migrated, bootstrapped runtime."""
    rt = Runtime.create(store_settings)
    rt.migrate()
    rt.bootstrap()
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """An HTTP client of the app (workers included), authenticated as admin."""
    with TestClient(create_app(runtime, shutdown_grace=5), headers=admin_headers) as test_client:
        yield test_client


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    """A small SQLite source database."""
    import sqlite3

    path = tmp_path / "shop.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total DECIMAL(10,2), ordered_at TIMESTAMP);
        """
    )
    db.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [
            (i, f"cüstomer {i % 17}", f"{i * 1.25:.2f}", f"2024-01-{1 + i % 28:02d} 10:00:00")
            for i in range(1, 1001)
        ],
    )
    db.commit()
    db.close()
    return path


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `rebind.example` resolve to 127.0.0.1 — for the policy's lookup only, so a
    connection that reached it went to the address the policy vetted, not to the name."""
    real = hosts.lookup
    monkeypatch.setattr(
        hosts, "lookup", lambda name: ["127.0.0.1"] if name == "rebind.example" else real(name)
    )
