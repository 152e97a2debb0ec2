"""Email about runs, as CData Sync sends it: after every run, or only after failures.

Sent over SMTP with the server configured by `CONVEYOR_SMTP_*`; a job asks for it with
`send_email`, `email_to`, `email_subject` and `email_error_only`.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from conveyor.config import Settings
from conveyor.header_values import one_line


def wants_email(notifications: dict[str, Any], status: str) -> bool:
    """Whether a finished run with `status` should be mailed about."""
    if not notifications.get("send_email") or not notifications.get("email_to"):
        return False
    return status == "error" or not notifications.get("email_error_only")


def compose(
    settings: Settings, notifications: dict[str, Any], facts: dict[str, Any]
) -> EmailMessage:
    """The email of one finished run."""
    message = EmailMessage()
    name, status = facts["name"], facts["status"]
    subject = notifications.get("email_subject") or f"Conveyor: {name} {status}"
    message["Subject"] = one_line(subject)  # what was stored before subjects were checked
    message["From"] = settings.smtp_from
    message["To"] = one_line(", ".join(notifications["email_to"]))
    lines = [
        f"{facts['kind'].capitalize()} {name!r} finished: {status}.",
        "",
        f"Run:           {facts['run_id']}",
        f"Started:       {facts.get('started_at') or '-'}",
        f"Completed:     {facts.get('completed_at') or '-'}",
        f"Attempt:       {facts.get('attempt', 1)}",
        f"Rows read:     {facts.get('rows_read', 0):,}",
        f"Rows written:  {facts.get('rows_written', 0):,}",
        f"Rows deleted:  {facts.get('rows_deleted', 0):,}",
    ]
    if facts.get("error"):
        lines += ["", "Error:", str(facts["error"])]
    for task in facts.get("tasks", []):
        lines.append(
            f"  task {task['index']}: {task['status']}, {task['rows_written']:,} rows {task.get('error') or ''}".rstrip()
        )
    message.set_content("\n".join(lines) + "\n")
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    """Deliver an email through the configured SMTP server."""
    if not settings.smtp_host:
        raise RuntimeError("no SMTP server configured: set CONVEYOR_SMTP_HOST")
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if settings.smtp_security == "ssl" else smtplib.SMTP
    kwargs: dict[str, Any] = {"context": context} if settings.smtp_security == "ssl" else {}
    with smtp_class(settings.smtp_host, settings.smtp_port, timeout=30, **kwargs) as client:
        if settings.smtp_security == "starttls":
            client.starttls(context=context)
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password or "")
        client.send_message(message)
