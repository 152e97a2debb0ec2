"""Each run executes in a child process that its worker supervises.

A crashing driver or runaway memory takes down only the child; memory goes back to the
system when the run ends; a run that ignores a cancel is ended by signal. Children are
forked from a forkserver that has the engine and pyarrow preloaded, so starting one
costs milliseconds. The child talks to its supervisor over a pipe:

    child → parent   ("log", ts, level, message, task_id)
                     ("task", TaskResult, estimate)
                     ("state", task_id, state)         parent answers ("state_saved",)
                     ("outcome", RunOutcome)
    parent → child   the cancel and suspend events
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Event
from typing import Any

from conveyor.domain import utcnow
from conveyor.engine.reporting import Stage, TaskResult
from conveyor.engine.spec import RunSpec
from conveyor.errors import RunSuspended

PRELOAD = [
    "conveyor.queue.process",
    "conveyor.engine.runner",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.parquet",
    "conveyor.connectors.sqlite.connector",
    "conveyor.connectors.duckdb.connector",
    "conveyor.connectors.files.connector",
    "conveyor.connectors.postgres.connector",
    "conveyor.connectors.mysql.connector",
    "sqlglot.dialects.sqlite",
    "sqlglot.dialects.duckdb",
    "sqlglot.dialects.postgres",
    "sqlglot.dialects.mysql",
]
"""Imported once by the forkserver, so a run's process starts with its drivers loaded."""
_context_lock = threading.Lock()
_context: BaseContext | None = None


def context() -> BaseContext:
    """The multiprocessing context runs are started in (a preloaded forkserver)."""
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


class _Token:
    """The child's view of cancel and suspend: canceled runs stop, suspended runs pause."""

    def __init__(self, cancel: Event, suspend: Event) -> None:
        self._cancel = cancel
        self._suspend = suspend

    def is_set(self) -> bool:
        if self._suspend.is_set() and not self._cancel.is_set():
            raise RunSuspended()
        return self._cancel.is_set()


class PipeReporter:
    """The child's reporter: every event goes to the supervising worker over the pipe."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self._conn.send(message)

    def log(self, level: str, message: str, task_id: str | None = None) -> None:
        self._send(("log", utcnow(), level, message, task_id))

    def task_update(self, result: TaskResult, estimate: int | None = None) -> None:
        self._send(("task", result, estimate))

    def save_state(self, task_id: str, state: dict[str, Any]) -> None:
        with self._lock:
            self._conn.send(("state", task_id, state))
            reply = self._conn.recv()
        if reply != ("state_saved",):
            raise RuntimeError(f"unexpected reply from the worker: {reply!r}")

    def stage(self, task_id: str, stage: Stage) -> None:
        """Not sent: the worker follows a run by its progress, results and state."""

    def outcome(self, outcome: Any) -> None:
        self._send(("outcome", outcome))


def _watch_parent(original_parent: int) -> None:
    """Exit when the worker (and with it our forkserver parent) died: no orphans."""
    while True:
        time.sleep(1.0)
        if os.getppid() != original_parent:
            os._exit(70)


def child_main(spec: RunSpec, conn: Connection, cancel: Event, suspend: Event) -> None:
    """Entry point of a run's process."""
    from conveyor.engine import runner
    from conveyor.logging import bind

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    reporter = PipeReporter(conn)
    with bind(run_id=spec.run_id, job_id=spec.job_id):
        logging.getLogger(__name__).debug("run process started (pid %s)", os.getpid())
        outcome = runner.execute(spec, reporter, _Token(cancel, suspend))
        reporter.outcome(outcome)
    conn.close()
    # Leave at once: a driver thread stuck in a stopped query must not keep the run alive.
    logging.shutdown()
    os._exit(0)


class RunProcess:
    """The supervisor's handle on a run's child process."""

    def __init__(self, spec: RunSpec) -> None:
        ctx = context()
        self.conn, child_conn = ctx.Pipe(duplex=True)  # type: ignore[attr-defined]
        self.cancel_event: Event = ctx.Event()  # type: ignore[attr-defined]
        self.suspend_event: Event = ctx.Event()  # type: ignore[attr-defined]
        self.process = ctx.Process(  # type: ignore[attr-defined]
            target=child_main,
            args=(spec, child_conn, self.cancel_event, self.suspend_event),
            name=f"conveyor-run-{spec.run_id[:8]}",
            daemon=True,
        )
        self._child_conn = child_conn

    def start(self) -> None:
        """Start the child."""
        self.process.start()
        self._child_conn.close()

    def receive(self, timeout: float) -> list[tuple[Any, ...]]:
        """Messages the child sent, waiting up to `timeout` for the first one."""
        messages: list[tuple[Any, ...]] = []
        try:
            if not self.conn.poll(timeout):
                return messages
            while True:
                messages.append(self.conn.recv())
                if not self.conn.poll(0):
                    break
        except (EOFError, OSError):
            pass
        return messages

    def reply(self, message: tuple[Any, ...]) -> None:
        """Answer a child's request."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(message)

    @property
    def alive(self) -> bool:
        """Whether the child still runs."""
        return bool(self.process.is_alive())

    def cancel(self) -> None:
        """Ask the run to stop at its next batch."""
        self.cancel_event.set()

    def suspend(self) -> None:
        """Ask the run to stop at its next batch and resume later."""
        self.suspend_event.set()

    def kill(self) -> None:
        """End the child now: SIGTERM, then SIGKILL if it lingers."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(1.0)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(1.0)

    def join(self, timeout: float | None = None) -> int | None:
        """Wait for the child; its exit code."""
        self.process.join(timeout)
        code: int | None = self.process.exitcode
        if not self.process.is_alive():
            self.conn.close()
        return code
