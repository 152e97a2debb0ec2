"""The worker pool: claims runs, executes each in a supervised child, reports back.

What a run executes and what follows its end come from the services, through the
`RunHooks` the pool is given (`queue.hooks`).

One dispatcher thread claims runs while a slot is free; one supervisor thread per run
relays the child's logs and progress to the store, beats the heart, passes on cancel
requests and, when the child ignores them past the grace period, kills it. A sweeper
thread recovers runs of workers that went silent (on any machine).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from conveyor.config import Settings
from conveyor.domain import RunStatus, TaskRunStatus, logged_at, utcnow
from conveyor.engine.reporting import RunOutcome, TaskResult
from conveyor.errors import ConveyorError
from conveyor.logging import bind
from conveyor.queue.hooks import RunHooks
from conveyor.queue.listen import Listener
from conveyor.queue.manager import WAKEUP, ClaimedRun, Heartbeat, QueueManager
from conveyor.queue.process import RunProcess

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5


class WorkerPool:
    """Runs queued runs, at most `settings.workers` at a time."""

    def __init__(
        self,
        settings: Settings,
        manager: QueueManager,
        hooks: RunHooks,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.hooks = hooks
        self.hostname = socket.gethostname()
        self.worker_id = f"{self.hostname}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._slots = threading.BoundedSemaphore(max(1, settings.workers))
        self._stopping = threading.Event()
        self._suspend_all = threading.Event()
        self._threads: list[threading.Thread] = []
        self._supervisors: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start claiming runs and sweeping for dead workers."""
        for target, name in ((self._dispatch, "dispatcher"), (self._sweep, "sweeper")):
            thread = threading.Thread(target=target, name=f"conveyor-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.settings.metadata_url.startswith("postgresql"):
            self._threads.append(
                Listener(self.settings.metadata_url, WAKEUP, self._stopping).start()
            )
        log.info(
            "worker pool started",
            extra={"worker_id": self.worker_id, "slots": self.settings.workers},
        )

    def stop(self, grace: float = 30.0) -> None:
        """Stop claiming at once; let runs finish within `grace` seconds, then suspend them."""
        self._stopping.set()
        WAKEUP.set()
        deadline = time.monotonic() + grace
        for thread in self._running():
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._running():
            log.warning(
                "suspending %d run(s) still running after %.0fs", len(self._running()), grace
            )
            self._suspend_all.set()
            for thread in self._running():
                thread.join(self.settings.cancel_grace + 5)
        for thread in self._threads:
            thread.join(2)

    def _running(self) -> list[threading.Thread]:
        with self._lock:
            return [t for t in self._supervisors if t.is_alive()]

    # --- threads -------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            self._slots.acquire()
            if self._stopping.is_set():
                self._slots.release()
                break
            try:
                claimed = self.manager.claim(self.worker_id, self.hostname)
            except Exception:
                log.exception("claiming a run failed")
                claimed = None
            if claimed is None:
                self._slots.release()
                WAKEUP.wait(self.settings.poll_interval)
                continue
            thread = threading.Thread(
                target=self._supervise,
                args=(claimed,),
                name=f"conveyor-run-{claimed.id[:8]}",
                daemon=True,
            )
            with self._lock:
                self._supervisors = {t for t in self._supervisors if t.is_alive()} | {thread}
            thread.start()

    def _sweep(self) -> None:
        timeouts = (self.settings.heartbeat_timeout, self.settings.external_heartbeat_timeout)
        interval = max(1.0, min(min(timeouts) / 4, 15.0))
        while not self._stopping.wait(interval):
            try:
                now = utcnow()
                silent_since = now - dt.timedelta(seconds=self.settings.heartbeat_timeout)
                external_since = now - dt.timedelta(
                    seconds=self.settings.external_heartbeat_timeout
                )
                for run_id in self.manager.sweep(silent_since, external_since):
                    log.warning("recovered run %s from a silent worker", run_id)
                    WAKEUP.set()
            except Exception:
                log.exception("sweeping failed")

    def _supervise(self, claimed: ClaimedRun) -> None:
        status: RunStatus | None = None
        try:
            with bind(run_id=claimed.id, job_id=claimed.job_id, worker_id=self.worker_id):
                status = RunSupervisor(self, claimed).run()
        except Exception:
            log.exception("supervising run %s failed", claimed.id)
        finally:
            self._slots.release()
            WAKEUP.set()  # a slot is free, and the run may have gone back to the queue
        if status is not None and status.is_final:
            try:  # follow-ups (triggered transformations, events) after the slot is free
                self.hooks.after_run(claimed.id, status)
            except Exception:
                log.exception("follow-ups of run %s failed", claimed.id)


class RunSupervisor:
    """Relays one run's child process to the store until the run ends."""

    def __init__(self, pool: WorkerPool, claimed: ClaimedRun) -> None:
        self.pool = pool
        self.claimed = claimed
        self.settings = pool.settings
        self.logs: list[tuple[dt.datetime, str, str, str | None]] = []
        self.tasks: dict[str, TaskResult] = {}
        self.estimates: dict[str, int | None] = {}
        self.total_tasks = 1

    def run(self) -> RunStatus:
        """Execute the run to its end; return the status it ended with."""
        manager, claimed = self.pool.manager, self.claimed
        try:
            spec = self.pool.hooks.build_spec(claimed)
        except ConveyorError as exc:
            return manager.finish(
                claimed.id,
                self.pool.worker_id,
                RunOutcome(RunStatus.error, exc.message, exc.retryable),
            )
        self.total_tasks = max(1, len(spec.tasks))
        if logged_at("info", spec.settings.verbosity):  # as the run's own lines
            self.logs.append(
                (
                    utcnow(),
                    "info",
                    f"attempt {claimed.attempt} {'resumed' if claimed.resumed else 'started'} on worker {self.pool.worker_id}",
                    None,
                )
            )
        process = RunProcess(spec)
        process.start()
        try:
            outcome = self._relay(process)
        except StoreUnreachable as exc:
            # Without heartbeats the sweeper will give the run to another worker: stop it
            # here rather than let it go on as a zombie writing the same destination.
            process.kill()
            log.error("stopped run %s: %s", claimed.id, exc)
            return RunStatus.in_progress
        process.join(5)
        if process.alive:
            process.kill()
        if outcome is None:
            code = process.process.exitcode
            outcome = RunOutcome(
                RunStatus.error,
                f"the run's process exited unexpectedly (exit code {code})",
                retryable=True,
            )
        try:
            self._flush()
            final = manager.finish(claimed.id, self.pool.worker_id, outcome)
        except Exception:
            log.exception("could not record the end of run %s; the sweeper will", claimed.id)
            return RunStatus.in_progress
        log.info("run ended %s", final.value, extra={"rows_written": outcome.rows_written})
        return final

    def _relay(self, process: RunProcess) -> RunOutcome | None:
        kill_at: float | None = None
        last_flush = time.monotonic()
        failing_since: float | None = None
        while True:
            for message in process.receive(timeout=0.1):
                outcome = self._handle(message, process)
                if outcome is not None:
                    return outcome
            now = time.monotonic()
            if now - last_flush >= min(FLUSH_SECONDS, self.settings.heartbeat_interval):
                last_flush = now
                try:
                    beat = self._flush()
                    failing_since = None
                except Exception as exc:
                    failing_since = failing_since or now
                    log.warning("heartbeat of run %s failed: %s", self.claimed.id, exc)
                    if now - failing_since > self.settings.heartbeat_timeout / 2:
                        raise StoreUnreachable(
                            f"heartbeats failed for {now - failing_since:.0f} s"
                        ) from exc
                    continue
                if (beat.cancel_requested or beat.lost) and kill_at is None:
                    process.cancel()
                    kill_at = now + self.settings.cancel_grace
                    if beat.lost:
                        log.warning("run %s is no longer ours; stopping it", self.claimed.id)
            if self.pool._suspend_all.is_set() and kill_at is None:
                process.suspend()
                kill_at = now + self.settings.cancel_grace
            if kill_at is not None and now > kill_at and process.alive:
                log.warning("run %s ignored the stop request; killing it", self.claimed.id)
                process.kill()
                suspended = self.pool._suspend_all.is_set() and not process.cancel_event.is_set()
                status = RunStatus.suspended if suspended else RunStatus.canceled
                return RunOutcome(
                    status,
                    "stopped by signal",
                    retryable=suspended,
                    tasks=list(self.tasks.values()),
                )
            if not process.alive and not process.conn.poll(0):
                return None

    def _handle(self, message: tuple[Any, ...], process: RunProcess) -> RunOutcome | None:
        kind = message[0]
        if kind == "log":
            _, ts, level, text, task_id = message
            self.logs.append((ts, level, text, task_id))
        elif kind == "task":
            _, result, estimate = message
            self.tasks[result.task_id] = result
            self.estimates[result.task_id] = estimate
        elif kind == "state":
            _, task_id, state = message
            try:
                self.pool.manager.save_task_state(task_id, state)
            except Exception as exc:  # the cursor cannot be kept: the run must not go on
                raise StoreUnreachable(f"saving the state of task {task_id} failed: {exc}") from exc
            process.reply(("state_saved",))
        elif kind == "outcome":
            outcome: RunOutcome = message[1]
            for result in outcome.tasks:
                self.tasks[result.task_id] = result
            return outcome
        return None

    def _progress(self) -> float:
        done = 0.0
        for task_id, result in self.tasks.items():
            if result.status in (
                TaskRunStatus.completed,
                TaskRunStatus.error,
                TaskRunStatus.skipped,
            ):
                done += 1
            elif (estimate := self.estimates.get(task_id)) and result.rows_read:
                done += min(0.99, result.rows_read / estimate)
        return min(1.0, done / self.total_tasks)

    def _flush(self) -> Heartbeat:
        logs, self.logs = self.logs, []
        try:
            return self.pool.manager.heartbeat(
                self.claimed.id,
                self.pool.worker_id,
                self._progress(),
                list(self.tasks.values()),
                logs,
            )
        except Exception:
            self.logs = logs + self.logs  # keep them for the next heartbeat
            raise


class StoreUnreachable(Exception):
    """The metadata store stopped answering a run's supervisor."""
