"""The connector conformance suite, over PostgreSQL and MariaDB (see this folder's conftest)."""

from __future__ import annotations

from tests.unit.connectors.test_conformance import *  # noqa: F403
