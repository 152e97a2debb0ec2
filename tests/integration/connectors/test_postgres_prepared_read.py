"""A PostgreSQL source's first read connects early (`PreparesReads`), and nothing changes for it.

The run asks the source to prepare as soon as both ends are open; the ADBC connection
then opens while the destination is looked at. The read takes that connection; a
failed early connect is tried again by the read, which reports its own error; a
connector closed unread closes the early connection too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conveyor.connectors.base import PreparesReads
from conveyor.connectors.registry import open_connector
from conveyor.errors import ConveyorError
from tests.services import fresh_pg_database, pg_url


@pytest.fixture
def pg() -> Iterator[Any]:
    with fresh_pg_database() as url:
        conn = open_connector(url)
        conn.execute("CREATE TABLE items AS SELECT i AS id FROM generate_series(1, 10) i")
        yield conn
        conn.close()


def test_the_read_takes_the_connection_opened_early(pg: Any) -> None:
    assert isinstance(pg, PreparesReads)
    pg.prepare_read()
    early = pg._opening.result()
    pg.prepare_read()  # a second ask while one is open changes nothing
    assert pg._opening.result() is early
    assert pg.read("SELECT sum(id) AS s FROM items", 100).read_all()[0][0].as_py() == 55
    assert pg._opening is None
    assert pg._idle == [early]  # given back for the next read, as any read's connection


def test_a_failed_early_connect_leaves_the_read_its_own_error() -> None:
    missing = pg_url("conveyor_prepared_read_no_such_database")
    unprepared, prepared = open_connector(missing), open_connector(missing)
    try:
        with pytest.raises(ConveyorError) as plain:
            unprepared.read("SELECT 1 AS one", 10)
        prepared.prepare_read()
        with pytest.raises(ConveyorError) as after_prepare:
            prepared.read("SELECT 1 AS one", 10)
    finally:
        unprepared.close()
        prepared.close()
    assert after_prepare.value.message == plain.value.message
    assert "conveyor_prepared_read_no_such_database" in plain.value.message


def test_closing_unread_closes_the_early_connection(pg: Any) -> None:
    pg.prepare_read()
    early = pg._opening.result()
    pg.close()
    assert early._closed
