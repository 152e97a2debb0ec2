"""Stopping a statement past `command_timeout`: interrupted, or abandoned, and always named."""

from __future__ import annotations

import threading
import time

import pytest

from conveyor.connectors.command_limit import abandon_after, interrupt_after, timed_out
from conveyor.errors import CommandTimedOut, ConnectorError


def test_the_error_names_the_limit_the_statement_and_the_table() -> None:
    error = timed_out(1.5, "SELECT  *\n FROM orders", "orders")
    assert error.message == (
        "orders: the statement 'SELECT * FROM orders' ran longer than command_timeout (1.5 s)"
        " and was stopped"
    )
    assert error.retryable and error.status_code == 504
    long = timed_out(1, "SELECT " + "x, " * 100 + "y FROM t")
    assert "…" in long.message and len(long.message) < 200


def test_no_limit_runs_the_body_as_is() -> None:
    interrupted = threading.Event()
    with interrupt_after(None, interrupted.set, "SELECT 1"):
        time.sleep(0.05)
    assert not interrupted.is_set()
    assert abandon_after(None, lambda: 7, lambda: None, "SELECT 7") == 7


def test_a_statement_past_the_limit_is_interrupted_and_named() -> None:
    interrupted = threading.Event()
    with (
        pytest.raises(CommandTimedOut, match=r"'SELECT slow\(\)' ran longer than command_timeout"),
        interrupt_after(0.05, interrupted.set, "SELECT slow()"),
    ):
        assert interrupted.wait(2)
        raise RuntimeError("interrupted")  # what the driver raises when interrupted


def test_an_interrupt_never_outlives_its_statement() -> None:
    interrupted = threading.Event()
    with interrupt_after(0.05, interrupted.set, "SELECT 1"):
        pass
    time.sleep(0.15)
    assert not interrupted.is_set()


def test_an_error_before_the_limit_stays_itself() -> None:
    with pytest.raises(ConnectorError, match="syntax"), interrupt_after(5, lambda: None, "x"):
        raise ConnectorError("syntax error")


def test_a_statement_that_cannot_be_stopped_is_abandoned_at_the_limit() -> None:
    release, abandoned = threading.Event(), threading.Event()
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match="'UPDATE t' ran longer"):
        abandon_after(0.1, release.wait, abandoned.set, "UPDATE t", "t")
    assert time.monotonic() - started < 5  # at the limit, not when the work ends (never)
    assert abandoned.is_set()
    release.set()


def test_within_the_limit_the_work_answers_or_raises() -> None:
    assert abandon_after(5, lambda: 3, lambda: None, "SELECT 3") == 3

    def fail() -> None:
        raise ConnectorError("no such table")

    with pytest.raises(ConnectorError, match="no such table"):
        abandon_after(5, fail, lambda: None, "SELECT 1")


def test_a_bulk_load_the_server_stops_taking_fails_at_the_limit() -> None:
    from collections.abc import Iterator

    from conveyor.connectors.server import Feed

    stuck = threading.Event()

    def consume(items: Iterator[int]) -> None:
        next(items)
        stuck.wait(5)  # the server takes one batch, then nothing

    feed: Feed[int] = Feed(
        consume, ConnectorError, depth=1, timeout=0.3, statement="COPY t FROM STDIN", what="t"
    )
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match="t: the statement 'COPY t FROM STDIN' ran longer"):
        for item in range(10):
            feed.put(item)
    assert time.monotonic() - started < 4  # before the server's 5 s: room for load
    stuck.set()
    feed.abort()


def test_a_bulk_load_that_does_not_finish_fails_at_the_limit() -> None:
    from collections.abc import Iterator

    from conveyor.connectors.server import Feed

    stuck = threading.Event()

    def consume(items: Iterator[int]) -> None:
        list(items)
        stuck.wait(5)  # every batch taken, the statement never completes

    feed: Feed[int] = Feed(consume, ConnectorError, timeout=0.3, statement="COPY t FROM STDIN")
    feed.put(1)
    with pytest.raises(CommandTimedOut, match="command_timeout"):
        feed.finish()
    stuck.set()
    feed.abort()
