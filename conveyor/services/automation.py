"""What happens around runs without anyone asking: schedules firing, and follow-ups of runs.

After a run ends: transformations triggered by its job are queued, and the job's
post-job event is delivered (signed, retried). On a schedule: a run is queued.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from conveyor.config import Settings
from conveyor.crypto import Redactor
from conveyor.domain import RunLoad, RunStatus, TriggerMethod, logged_at
from conveyor.errors import ConveyorError, NotFound
from conveyor.notifications import compose, send, wants_email
from conveyor.policy import Reach
from conveyor.services import jobs, pipeline_runs, runs, transformations
from conveyor.services.context import Context
from conveyor.services.reach import for_job_events
from conveyor.store.models import Job, Run, RunLog, Transformation

log = logging.getLogger(__name__)

ContextFactory = Callable[[Session], Context]


def enqueue_scheduled(
    make_context: ContextFactory, session: Session, kind: str, target_id: str, fire_at: dt.datetime
) -> str:
    """Queue the run of a schedule's tick (the scheduler's `enqueue`): a job's or a
    transformation's run, or a pipeline run (whose id is returned)."""
    ctx = make_context(session)
    if kind == "pipeline":
        return pipeline_runs.start(ctx, target_id, TriggerMethod.scheduled).id
    if kind == "transformation":
        item = session.get(Transformation, target_id)
        if item is None:
            raise NotFound(f"transformation {target_id} not found")
        return transformations.enqueue(ctx, item, TriggerMethod.scheduled).id
    job = session.get(Job, target_id)
    if job is None:
        raise NotFound(f"job {target_id} not found")
    return runs.enqueue(ctx, job, None, RunLoad.incremental, None, TriggerMethod.scheduled).id


def after_run(
    make_context: ContextFactory, session: Session, run_id: str, status: RunStatus
) -> list[Callable[[], None]]:
    """Queue follow-ups of a finished run; return deliveries to make after commit."""
    ctx = make_context(session)
    run = session.get(Run, run_id)
    if run is None:
        return []
    deliveries: list[Callable[[], None]] = []
    owner: Job | Transformation | None = (
        session.get(Job, run.job_id)
        if run.job_id
        else session.get(Transformation, run.transformation_id)
        if run.transformation_id
        else None
    )
    if owner is not None and wants_email(owner.notifications, status.value):
        facts = {**_facts(run, owner.name), "log": _log_lines(session, run, owner.settings)}
        message = compose(ctx.settings, owner.notifications, facts)
        deliveries.append(lambda: _mail(ctx.settings, message))
    if run.kind != "job" or run.job_id is None:
        return deliveries
    job = session.get(Job, run.job_id)
    if job is None:
        return deliveries
    if status is RunStatus.completed:
        loaded = {r.task_id for r in run.task_results if r.rows_written > 0}
        for queued in transformations.after_job(ctx, job.id, loaded):
            log.info("transformation run %s queued after job %s", queued.id, job.name)
    hook = job.notifications.get("post_job_event")
    if hook:
        payload = _payload(ctx, job, run)
        reach = for_job_events(ctx, job)  # as when the event was stored: who set it
        deliveries.append(lambda: _deliver(hook, payload, reach))
    return deliveries


def _facts(run: Run, name: str) -> dict[str, Any]:
    out = runs.to_out(run).model_dump(mode="json")
    return {**out, **out["stats"], "name": name, "run_id": run.id, "kind": run.kind}


MAILED_LOG_LINES = 200
"""A mailed run log's last lines at most: the email says what happened, the API has the rest."""


def _log_lines(session: Session, run: Run, settings: dict[str, Any]) -> list[str]:
    """The run's log as mailed: the lines its owner's verbosity keeps, newest last."""
    verbosity = int(settings.get("verbosity", 2))
    newest = session.scalars(
        select(RunLog)
        .where(RunLog.run_id == run.id)
        .order_by(RunLog.id.desc())
        .limit(MAILED_LOG_LINES)
    ).all()
    return [
        f"{line.ts.isoformat(timespec='seconds')} [{line.level.upper()}] {line.message}"
        for line in reversed(newest)
        if logged_at(line.level, verbosity)
    ]


def _mail(settings: Settings, message: EmailMessage) -> None:
    try:
        send(settings, message)
    except Exception as exc:
        own = Redactor.of(settings.smtp_password)  # the server's SMTP password, and no other
        log.warning("email to %s failed: %s", message["To"], own.redact(str(exc)))


def _payload(ctx: Context, job: Job, run: Run) -> dict[str, Any]:
    out = runs.to_out(run).model_dump(mode="json")
    return {
        "event": "post_job",
        "job": {"id": job.id, "name": job.name, "workspace_id": job.workspace_id},
        "run": {
            k: out[k] for k in ("id", "status", "error", "attempt", "started_at", "completed_at")
        },
        "stats": out["stats"],
        "tasks": [
            {k: t[k] for k in ("task_id", "table", "status", "rows_written", "error")}
            for t in out["tasks"]
        ],
        "job_settings": jobs.fields_of(job).model_dump(mode="json", include={"type", "labels"}),
    }


def _deliver(hook: dict[str, Any], payload: dict[str, Any], reach: Reach) -> None:
    """Deliver the post-job event within the workspace's reach; a failure is logged in
    Conveyor's words (the receiver's answer is never logged)."""
    from conveyor.webhooks import deliver

    try:
        deliver(
            hook["url"],
            "job.finished",
            payload,
            hook.get("secret"),
            hook.get("timeout", 10.0),
            reach=reach,
        )
    except ConveyorError as exc:
        own = Redactor.of(hook.get("secret"))  # the event's signing secret, and no other
        log.warning("post-job event to %s failed: %s", own.redact(hook["url"]), exc.message)
    except Exception as exc:  # a bug, not an answer: its type is enough, and safe to log
        own = Redactor.of(hook.get("secret"))
        log.warning("post-job event to %s failed: %s", own.redact(hook["url"]), type(exc))
