"""The database-server connectors, each test on a fresh database of the real local server.

The conformance suite of `tests/unit/connectors` runs here unchanged over these flavors;
a missing server skips (locally) or fails (in CI) the tests that need it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from conveyor.connectors.registry import open_connector
from tests.services import fresh_mysql_database, fresh_pg_database, mysql_url
from tests.unit.connectors.conftest import Flavor


def _postgres() -> AbstractContextManager[str]:
    return fresh_pg_database()


class _MySQL:
    def __enter__(self) -> str:
        self._inner = fresh_mysql_database()
        return mysql_url(self._inner.__enter__())

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(None, None, None)


SERVERS: dict[str, tuple[Callable[[], AbstractContextManager[str]], dict[str, Any]]] = {
    "postgres": (_postgres, {}),
    "mariadb": (_MySQL, {"bmp_identifiers": True}),
}


@pytest.fixture(params=list(SERVERS), ids=list(SERVERS))
def flavor(request: pytest.FixtureRequest) -> Iterator[Flavor]:
    """A server flavor whose URL points at a database created for this test."""
    fresh, extra = SERVERS[request.param]
    with fresh() as url:
        database = url.rsplit("/", 1)[1]
        yield Flavor(
            request.param,
            lambda _path, url=url: url,  # type: ignore[misc]
            scratch_schema=f"{database}_reporting",
            default_schema="public" if request.param == "postgres" else database,
            **extra,
        )


@pytest.fixture
def connector(flavor: Flavor) -> Iterator[Any]:
    conn = open_connector(flavor.url(None))  # type: ignore[arg-type]
    yield conn
    conn.close()


@pytest.fixture
def schema_name(flavor: Flavor) -> str:
    """A schema the test may create; the fresh database's teardown drops it."""
    return flavor.scratch_schema
