"""Engines and units of work for the metadata store.

One transaction per request or worker step: `unit_of_work` commits when the block ends
and rolls back when it raises. Services receive the session and never commit.

A unit is a write transaction unless it says it only reads (`read_only=True`, what a GET
asks for). On SQLite a write transaction starts with `BEGIN IMMEDIATE` — writers queue
for the one write lock up front instead of failing on a lock upgrade — and a read one
with a plain (deferred) `BEGIN`: it reads a WAL snapshot and never waits for, nor holds
up, a writer. A read unit is read only in earnest (SQLite's `query_only`, PostgreSQL's
`READ ONLY` transactions): a write inside one fails at once instead of upgrading a lock.

A write transaction holds up every other writer (SQLite has one write lock), so it must
be short: no network, no waiting on anything but the store. Each one is timed from its
`BEGIN` (the wait for the lock left out) to its end, and one that outlasts the factory's
budget (`CONVEYOR_WRITE_TRANSACTION_BUDGET`) is logged as a warning naming the code that
opened it and, inside a request, the request (`operation`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "conveyor_read_only"
"""The connection execution option a read-only unit of work sets."""
WRITE_BUDGET = "conveyor_write_budget"
"""The `Session.info` key of the seconds a write transaction may last before it is logged."""
_BEGAN = "conveyor_began"
operation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "conveyor_operation", default=None
)
"""What the units of work opened now are for (a request's method and path), for the log."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine, tuned for SQLite (WAL, busy timeout, immediate writes) or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE below applies.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY, False))
        info = connection.connection.info  # kept with the DBAPI connection across checkouts
        if info.get(READ_ONLY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            info[READ_ONLY] = read_only
        # Writers queue on the lock up front instead of failing on a lock upgrade; readers
        # take no lock at all (WAL).
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_session_factory(
    engine: Engine, *, write_budget: float | None = None
) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit; its write units that
    last longer than `write_budget` seconds are logged (None: not timed)."""
    info = {WRITE_BUDGET: write_budget} if write_budget is not None else {}
    return sessionmaker(engine, expire_on_commit=False, info=info)


@event.listens_for(Session, "after_begin")
def _note_begin(session: Session, _transaction: Any, _connection: Any) -> None:
    # After the connection's BEGIN: on SQLite the wait for the write lock is over.
    if WRITE_BUDGET in session.info:
        session.info.setdefault(_BEGAN, time.monotonic())


@contextlib.contextmanager
def unit_of_work(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    With `read_only`, a read transaction that takes no write lock and refuses writes.
    A write transaction that outlasts the factory's budget is logged when it ends.
    """
    session = factory()
    try:
        if read_only:
            session.connection(execution_options=_read_only_options(session))
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if not read_only:
            _check_budget(session)
        session.close()


def _check_budget(session: Session) -> None:
    began = session.info.pop(_BEGAN, None)
    budget = session.info.get(WRITE_BUDGET)
    if began is None or budget is None:
        return
    held = time.monotonic() - began
    if held > budget:
        request = operation.get()
        log.warning(
            "a write transaction of %s%s held the store for %.2f s, over its budget of %g s "
            "(CONVEYOR_WRITE_TRANSACTION_BUDGET): no network or slow work belongs inside one",
            _opener(sys._getframe(1)),
            f" ({request})" if request else "",
            held,
            budget,
            extra={"transaction_seconds": round(held, 3), "operation": request},
        )


_PLUMBING = frozenset({__name__, "contextlib"})
_UNIT_OPENERS = frozenset({("conveyor.runtime", "Runtime.unit")})


def _opener(frame: FrameType | None) -> str:
    """The function that opened the unit: the first frame outside the plumbing (this
    module, contextlib, the runtime's `unit`), still on the stack while its block ends."""
    while frame is not None:
        module, name = frame.f_globals.get("__name__", "?"), frame.f_code.co_qualname
        if module not in _PLUMBING and (module, name) not in _UNIT_OPENERS:
            return f"{module}.{name}"
        frame = frame.f_back
    return "?"


def _read_only_options(session: Session) -> dict[str, Any]:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return {READ_ONLY: True, "postgresql_readonly": True}
    return {READ_ONLY: True}
