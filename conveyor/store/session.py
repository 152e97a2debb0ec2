"""Engines and units of work for the metadata store.

One transaction per request or worker step: `unit_of_work` commits when the block ends
and rolls back when it raises. Services receive the session and never commit.

A unit is a write transaction unless it says it only reads (`read_only=True`, what a GET
asks for). On SQLite a write transaction starts with `BEGIN IMMEDIATE` — writers queue
for the one write lock up front instead of failing on a lock upgrade — and a read one
with a plain (deferred) `BEGIN`: it reads a WAL snapshot and never waits for, nor holds
up, a writer. A read unit is read only in earnest (SQLite's `query_only`, PostgreSQL's
`READ ONLY` transactions): a write inside one fails at once instead of upgrading a lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "conveyor_read_only"
"""The connection execution option a read-only unit of work sets."""


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


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def unit_of_work(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    With `read_only`, a read transaction that takes no write lock and refuses writes.
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
        session.close()


def _read_only_options(session: Session) -> dict[str, Any]:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return {READ_ONLY: True, "postgresql_readonly": True}
    return {READ_ONLY: True}
