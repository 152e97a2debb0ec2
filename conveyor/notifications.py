"""Email about runs, as CData Sync sends it: after every run, or only after failures.

Sent over SMTP with the server configured by `CONVEYOR_SMTP_*`; a job asks for it with
`send_email`, `email_to`, `email_subject` and `email_error_only`. The SMTP server is the
operator's choice, so it is reached with the server's reach (an admin's: loopback and
private networks allowed, the denied list and metadata addresses still refused), on an
address resolved and checked right before connecting; STARTTLS and implicit TLS verify the
certificate against the configured name.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Any

from conveyor.config import Settings
from conveyor.header_values import one_line
from conveyor.policy import Policy, Reach


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
    if facts.get("log"):  # the run's own lines, at its verbosity (see services/automation.py)
        lines += ["", "Log:", *facts["log"]]
    message.set_content("\n".join(lines) + "\n")
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    """Deliver an email through the configured SMTP server (`HostRefused` if the policy
    refuses its address: nothing is sent then)."""
    if not settings.smtp_host:
        raise RuntimeError("no SMTP server configured: set CONVEYOR_SMTP_HOST")
    context = ssl.create_default_context()
    reach = Policy(settings).server_reach()
    where = {"host": settings.smtp_host, "port": settings.smtp_port, "timeout": 30}
    client: smtplib.SMTP
    if settings.smtp_security == "ssl":
        client = _VettedSMTPSSL(reach, context=context, **where)
    else:
        client = _VettedSMTP(reach, **where)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=context)
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password or "")
        client.send_message(message)


class _VettedSMTP(smtplib.SMTP):
    """SMTP whose socket goes to an address `reach` vetted for the host just now.

    smtplib keeps the host name it was constructed with for STARTTLS (`server_hostname`),
    so the certificate is still checked against the configured name.
    """

    def __init__(self, reach: Reach, **kwargs: Any) -> None:
        self.reach = reach
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return _vetted_socket(self.reach, host, port, timeout, self.source_address or None)


class _VettedSMTPSSL(smtplib.SMTP_SSL, _VettedSMTP):
    """Implicit TLS over a vetted socket: SMTP_SSL wraps what `_VettedSMTP` opened, with
    the configured name as `server_hostname`."""

    def __init__(self, reach: Reach, **kwargs: Any) -> None:
        self.reach = reach
        smtplib.SMTP_SSL.__init__(self, **kwargs)


def _vetted_socket(
    reach: Reach, host: str, port: int, timeout: float, source: Any
) -> socket.socket:
    last: OSError | None = None
    for address in reach.addresses(host, port):
        try:
            return socket.create_connection((address, port), timeout, source)
        except OSError as exc:
            last = exc
    assert last is not None  # addresses() returns at least one address
    raise last
