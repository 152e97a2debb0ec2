"""A started app keeps its long-lived objects out of full garbage collections, and hands
them back when it stops."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.runtime import Runtime


def test_a_started_app_freezes_its_heap_and_releases_it_at_shutdown(runtime: Runtime) -> None:
    gc.unfreeze()
    with TestClient(create_app(runtime, workers=False)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the modules, routes and schemas
    assert gc.get_freeze_count() == 0
