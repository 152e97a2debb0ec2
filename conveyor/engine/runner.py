"""The run lifecycle: hook, open both ends, run each task, close — one readable function.

Each kind of exception maps to exactly one final status:

    RunCanceled      → canceled
    RunSuspended     → suspended (the worker is shutting down; the run resumes later)
    ConveyorError    → error, retried when the error class says it is transient
    anything else    → error, retried (an unexpected failure is assumed transient)

Every text a run shows — its error, its tasks' errors, its log lines, and the log lines
of code running inside it — is masked with the run's own secrets (`RunSpec.redactor`),
which are its two connections' and nobody else's.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conveyor.connectors.base import (
    Connector,
    PreparesReads,
    Readable,
    SqlExecutor,
    Writable,
    limit_commands,
)
from conveyor.connectors.registry import open_connector
from conveyor.crypto import Redactor
from conveyor.domain import JobType, RunStatus, TaskRunStatus, utcnow
from conveyor.engine import artifacts, replicate
from conveyor.engine.context import TaskContext
from conveyor.engine.leftovers import drop_leftovers
from conveyor.engine.reporting import (
    CancelToken,
    Reporter,
    RunOutcome,
    Stage,
    TaskResult,
    VerbosityFilter,
    raise_if_canceled,
)
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec
from conveyor.engine.tasks import run_task
from conveyor.errors import ConfigurationError, ConveyorError, RunCanceled, RunSuspended
from conveyor.logging import redacting
from conveyor.policy import Reach, resolve_path

Opener = Callable[[str, dict[str, Any], Reach], Connector]


def execute(
    spec: RunSpec, reporter: Reporter, cancel: CancelToken, opener: Opener = open_connector
) -> RunOutcome:
    """Execute every task of a run and say how it ended (with an export's files); never raises.

    The run logs at its settings' verbosity: lines below it are never passed on."""
    reporter = VerbosityFilter(MaskingReporter(reporter, spec.redactor), spec.settings.verbosity)
    with redacting(spec.redactor):
        return _execute_and_describe(spec, reporter, cancel, opener)


class MaskingReporter:
    """A run's reporter that masks the run's own secrets in every log line and task error
    it passes on, whichever part of the engine or connector wrote them."""

    def __init__(self, reporter: Reporter, redactor: Redactor) -> None:
        self._reporter = reporter
        self._redactor = redactor

    def log(self, level: str, message: str, task_id: str | None = None) -> None:
        self._reporter.log(level, self._redactor.redact(message), task_id)

    def task_update(self, result: TaskResult, estimate: int | None = None) -> None:
        if result.error:
            result.error = self._redactor.redact(result.error)
        self._reporter.task_update(result, estimate)

    def save_state(self, task_id: str, state: dict[str, Any]) -> None:
        self._reporter.save_state(task_id, state)

    def stage(self, task_id: str, stage: Stage) -> None:
        self._reporter.stage(task_id, stage)


def _execute_and_describe(
    spec: RunSpec, reporter: Reporter, cancel: CancelToken, opener: Opener
) -> RunOutcome:
    outcome = _execute(spec, reporter, cancel, opener)
    if artifacts.is_export(spec) and outcome.status in (RunStatus.completed, RunStatus.error):
        try:
            outcome.files = artifacts.describe(str(spec.artifacts_dir))
        except OSError as exc:
            message = f"the export's files could not be read: {exc}"
            reporter.log("error", message)
            return RunOutcome(RunStatus.error, message, retryable=True, tasks=outcome.tasks)
        size = sum(f["size"] for f in outcome.files)
        reporter.log("info", f"{len(outcome.files)} file(s) written, {size:,} bytes")
    return outcome


@dataclass(frozen=True)
class _Run:
    """A run in progress: what every strategy (sequential, parallel, transformation) and
    every task works with, passed as one value instead of five arguments."""

    spec: RunSpec
    results: list[TaskResult]
    """One per task of `spec.tasks`, in the same order; updated as the tasks go."""
    reporter: Reporter
    cancel: CancelToken
    opener: Opener

    def tasks(self) -> Iterator[tuple[TaskSpec, TaskResult]]:
        """Each task with its result."""
        return zip(self.spec.tasks, self.results, strict=True)


def _execute(spec: RunSpec, reporter: Reporter, cancel: CancelToken, opener: Opener) -> RunOutcome:
    results = [TaskResult(task.id, task.position) for task in spec.tasks]
    run = _Run(spec, results, reporter, cancel, opener)
    try:
        raise_if_canceled(cancel)
        artifacts.prepare(spec)
        _pre_job_hook(spec, reporter)
        if spec.kind == "transformation":
            _transform(run)
        elif spec.job_type == JobType.change_data_capture.value:
            from conveyor.engine.cdc.run import follow

            with _ends(spec, opener) as (source, destination):
                _drop_leftovers(spec, destination, reporter)
                follow(spec, results, reporter, cancel, source, destination)
        elif (
            spec.settings.enable_parallel_processing
            and spec.settings.worker_pool > 1
            and len(spec.tasks) > 1
        ):
            _replicate_parallel(run)
        else:
            with _ends(spec, opener) as (source, destination):
                _drop_leftovers(spec, destination, reporter)
                for task, result in run.tasks():
                    raise_if_canceled(cancel)
                    _run_task(run, task, result, source, destination)
        failed = [r for r in results if r.status is TaskRunStatus.error]
        if failed:
            summary = "; ".join(f"task {r.position}: {r.error}" for r in failed)
            return RunOutcome(
                RunStatus.error,
                f"{len(failed)} of {len(results)} tasks failed: {summary}",
                tasks=results,
            )
        reporter.log(
            "info", f"run completed: {sum(r.rows_written for r in results):,} rows written"
        )
        return RunOutcome(RunStatus.completed, tasks=results)
    except RunCanceled as exc:
        _close_open_tasks(results, TaskRunStatus.canceled, reporter)
        reporter.log(
            "warning", f"run canceled{': ' + exc.message if exc.message != exc.title else ''}"
        )
        return RunOutcome(RunStatus.canceled, tasks=results)
    except RunSuspended as exc:
        _close_open_tasks(results, TaskRunStatus.pending, reporter)
        return RunOutcome(RunStatus.suspended, exc.message, retryable=True, tasks=results)
    except ConveyorError as exc:
        message = spec.redactor.redact(exc.message)
        reporter.log("error", message)
        return RunOutcome(RunStatus.error, message, exc.retryable, results)
    except Exception as exc:
        message = spec.redactor.redact(f"{type(exc).__name__}: {exc}")
        reporter.log("error", f"unexpected failure: {message}")
        reporter.log("debug", spec.redactor.redact(traceback.format_exc()))
        return RunOutcome(RunStatus.error, message, retryable=True, tasks=results)


def _run_task(
    run: _Run, task: TaskSpec, result: TaskResult, source: Readable, destination: Writable
) -> None:
    """Run one task; its failure fails the run unless continue_on_error is set."""
    spec, reporter = run.spec, run.reporter
    result.status, result.started_at = TaskRunStatus.running, utcnow()
    reporter.task_update(result)
    reporter.log("info", f"task {task.position}: {task.query}", task.id)
    try:
        with _task_destination(spec, task, destination, run.opener) as target:
            for end in (source, target):  # the job's limit; a task's WITH may set its own
                limit_commands(end, spec.settings.command_timeout)
            ctx = TaskContext(
                run_id=spec.run_id,
                job_id=spec.job_id,
                load=spec.load,
                job_type=spec.job_type,
                source=source,
                destination=target,
                reporter=reporter,
                cancel=run.cancel,
                result=result,
                started=utcnow(),
                save=lambda state: reporter.save_state(task.id, state),
                open_source=_source_opener(spec.source, run.opener),
            )
            run_task(ctx, task, spec)
    except (RunCanceled, RunSuspended):
        raise
    except Exception as exc:
        _fail(spec.redactor, result, exc, reporter, task)
        if not spec.settings.continue_on_error:
            raise
        return
    result.status, result.completed_at = TaskRunStatus.completed, utcnow()
    reporter.task_update(result)


def _drop_leftovers(spec: RunSpec, destination: Writable, reporter: Reporter) -> None:
    """Drop the staging tables the job's killed runs left in the destination (not in an
    export's folder, which is the run's own)."""
    if not artifacts.is_export(spec):
        drop_leftovers(destination, spec.job_id, spec.run_id, reporter.log)


def _source_opener(endpoint: Endpoint | None, opener: Opener) -> Callable[[], Readable] | None:
    """Opens more connections to the source (parallel partition reads)."""
    if endpoint is None:
        return None
    return lambda: _require(
        opener(endpoint.url, endpoint.options, endpoint.reach), Readable, "source", "read"
    )  # type: ignore[no-any-return]  # its reads stream rows: bounded between batches


def _fail(
    redactor: Redactor, result: TaskResult, exc: Exception, reporter: Reporter, task: TaskSpec
) -> None:
    text = exc.message if isinstance(exc, ConveyorError) else f"{type(exc).__name__}: {exc}"
    result.status, result.error, result.completed_at = (
        TaskRunStatus.error,
        redactor.redact(text),
        utcnow(),
    )
    reporter.task_update(result)
    reporter.log("error", f"task {task.position} failed: {result.error}", task.id)


def _replicate_parallel(run: _Run) -> None:
    """Tasks side by side, `worker_pool` at a time, each with its own connections."""
    spec, reporter = run.spec, run.reporter
    reporter.log("info", f"running {len(spec.tasks)} tasks, {spec.settings.worker_pool} at a time")
    if not artifacts.is_export(spec):
        with _open(spec.destination, "destination", run.opener) as connector:
            _drop_leftovers(spec, _require(connector, Writable, "destination", "write"), reporter)

    def one(task: TaskSpec, result: TaskResult) -> None:
        raise_if_canceled(run.cancel)
        with _ends(spec, run.opener) as (source, destination):
            _run_task(run, task, result, source, destination)

    with ThreadPoolExecutor(
        max_workers=spec.settings.worker_pool, thread_name_prefix="conveyor-task"
    ) as pool:
        # Each task's thread runs in a copy of this context: the run's log fields and
        # redactor hold there too.
        futures = [
            pool.submit(contextvars.copy_context().run, one, task, result)
            for task, result in run.tasks()
        ]
        errors = [f.exception() for f in futures]
    for error in errors:  # cancelation first, then the first failure, as in sequential runs
        if isinstance(error, RunCanceled | RunSuspended):
            raise error
    for error in errors:
        if error is not None:
            raise error


def _transform(run: _Run) -> None:
    """A transformation: its SQL statements in order on the destination, each stopped
    when it runs longer than `command_timeout`."""
    spec, reporter = run.spec, run.reporter
    with _open(spec.destination, "destination", run.opener) as connector:
        executor = _require(connector, SqlExecutor, "destination", "run SQL")
        limit_commands(executor, spec.settings.command_timeout)
        for task, result in run.tasks():
            raise_if_canceled(run.cancel)
            result.status, result.started_at = TaskRunStatus.running, utcnow()
            reporter.task_update(result)
            try:
                affected = executor.execute(task.query)
            except Exception as exc:
                _fail(spec.redactor, result, exc, reporter, task)
                if not spec.settings.continue_on_error:
                    raise
                continue
            result.rows_written = max(0, affected)
            result.status, result.completed_at = TaskRunStatus.completed, utcnow()
            reporter.task_update(result)
            reporter.log(
                "info",
                f"statement {task.position}: {affected if affected >= 0 else 'done'} rows",
                task.id,
            )


def _pre_job_hook(spec: RunSpec, reporter: Reporter) -> None:
    """Call the pre-job event, within the workspace's reach; an answer of
    {"cancel": true} cancels the run. Only the answer's status code is logged (and the
    documented cancel reason, when the answer is exactly that: see `cancel_request`)."""
    hook = spec.pre_job_event
    if hook is None:
        return
    from conveyor.webhooks import cancel_request, deliver

    payload = {
        "event": "pre_job",
        "job_id": spec.job_id,
        "job_name": spec.job_name,
        "run_id": spec.run_id,
    }
    try:
        answer = deliver(
            hook.url, "job.starting", payload, hook.secret, hook.timeout, reach=spec.event_reach
        )
    except ConveyorError as exc:
        raise ConfigurationError(f"the pre-job event failed: {exc.message}") from exc
    reporter.log("info", f"pre-job event answered {answer.status_code}")
    cancel = cancel_request(answer)
    if cancel is not None:
        raise RunCanceled(
            "the pre-job event canceled the run" + (f": {cancel.reason}" if cancel.reason else "")
        )


def _close_open_tasks(results: list[TaskResult], status: TaskRunStatus, reporter: Reporter) -> None:
    for result in results:
        if result.status in (TaskRunStatus.running, TaskRunStatus.pending):
            result.status, result.completed_at = status, utcnow()
            reporter.task_update(result)


def _artifacts(spec: RunSpec, fmt: str | None) -> Endpoint:
    """The run's artifact folder as a file connection writing `fmt`: it reaches that
    folder and nothing else (it lies in the data directory, which connections never reach)."""
    folder = Path(str(spec.artifacts_dir))
    folder.mkdir(parents=True, exist_ok=True)
    reach = Reach(
        allowed_roots=(resolve_path(folder),), private_network=False, external_access=False
    )
    return Endpoint(f"file://{quote(str(folder))}?format={fmt}", name="artifacts", reach=reach)


@contextlib.contextmanager
def _task_destination(
    spec: RunSpec, task: TaskSpec, destination: Writable, opener: Opener
) -> Iterator[Writable]:
    """The run's destination, or the artifact folder in the format the task asks for
    (`WITH ExportFormat=…`): one export run can deliver a table in several formats."""
    try:
        asked = replicate.parse(task.query).options.get("export_format")
    except ConveyorError:
        asked = None  # the task reports its own statement's error
    if asked is None or asked == spec.export_format:
        yield destination
        return
    if not artifacts.is_export(spec):
        raise ConfigurationError("ExportFormat applies to export jobs (no destination) only")
    with _open(_artifacts(spec, asked), "destination", opener) as connector:
        yield _require(connector, Writable, "destination", "write")


@contextlib.contextmanager
def _ends(spec: RunSpec, opener: Opener) -> Iterator[tuple[Readable, Writable]]:
    """The source and the destination (an export job's destination is its artifact folder)."""
    destination = spec.destination
    if artifacts.is_export(spec):
        destination = _artifacts(spec, spec.export_format)
    with (
        _open(spec.source, "source", opener) as source,
        _open(destination, "destination", opener) as target,
    ):
        if isinstance(source, PreparesReads):
            source.prepare_read()  # connecting meanwhile: the destination's lookups come first
        yield (
            _require(source, Readable, "source", "read"),
            _require(target, Writable, "destination", "write"),
        )


@contextlib.contextmanager
def _open(endpoint: Endpoint | None, role: str, opener: Opener) -> Iterator[Connector]:
    if endpoint is None:
        raise ConfigurationError(f"the job has no {role} connection")
    connector = opener(endpoint.url, endpoint.options, endpoint.reach)
    try:
        yield connector
    finally:
        _close_within(connector, CLOSE_TIMEOUT)


CLOSE_TIMEOUT = 5.0


def _close_within(connector: Connector, timeout: float) -> None:
    """Close a connection, but never hang on a driver still busy with a stopped query."""
    closer = threading.Thread(
        target=lambda: _quietly(connector.close), name="conveyor-close", daemon=True
    )
    closer.start()
    closer.join(timeout)


def _quietly(action: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):
        action()


def _require(connector: Connector, capability: type, role: str, verb: str) -> Any:
    if not isinstance(connector, capability):
        raise ConfigurationError(f"the {role} connection cannot {verb}")
    return connector
