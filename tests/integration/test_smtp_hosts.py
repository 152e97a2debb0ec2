"""Job emails go to the configured SMTP server's vetted address, its name kept for TLS.

aiosmtpd listens on 127.0.0.1; `rebind.example` is a name only the policy's lookup knows,
so a delivery to it proves the socket went to the address the policy vetted, and a
certificate for that name proves TLS verified the configured name, not the address.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from conveyor.config import Settings
from conveyor.notifications import send
from conveyor.policy import HostRefused
from tests.e2e.server import free_port
from tests.integration.test_operations import Inbox
from tests.listeners import AcceptCounter
from tests.tls import issue


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = "run done", "sync@example.com", "ops@example.com"
    mail.set_content("finished\n")
    return mail


def server(inbox: Inbox, port: int, **tls: Any) -> Controller:
    # ready_timeout: aiosmtpd's 5 s default for starting is short on a loaded machine
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=30, **tls)
    controller.start()
    return controller


def tls_context(folder: Path, name: str) -> ssl.SSLContext:
    cert, key = issue(folder, name)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder whose certificates the client trusts (through SSL_CERT_FILE)."""
    bundle = tmp_path / "trusted.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    yield tmp_path


def trust(folder: Path, name: str) -> None:
    (folder / "trusted.pem").write_bytes((folder / f"{name}.crt").read_bytes())


def smtp_settings(settings: Settings, **update: Any) -> Settings:
    return settings.model_copy(update={"smtp_from": "sync@example.com", **update})


def test_mail_goes_to_the_vetted_address_of_the_configured_name(
    settings: Settings, rebinding: None
) -> None:
    inbox, port = Inbox(), free_port()
    controller = server(inbox, port)
    try:
        send(smtp_settings(settings, smtp_host="rebind.example", smtp_port=port), message())
    finally:
        controller.stop()
    assert [m.rcpt_tos for m in inbox.messages] == [["ops@example.com"]]


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_verifies_the_configured_name(
    settings: Settings, rebinding: None, trusted: Path, security: str
) -> None:
    inbox, port = Inbox(), free_port()
    context = tls_context(trusted, "rebind.example")
    trust(trusted, "rebind.example")
    tls = {"tls_context": context} if security == "starttls" else {"ssl_context": context}
    if security == "ssl":
        tls["server_hostname"] = "127.0.0.1"  # aiosmtpd's own readiness probe
    controller = server(inbox, port, **tls)
    configured = smtp_settings(
        settings, smtp_host="rebind.example", smtp_port=port, smtp_security=security
    )
    try:
        send(configured, message())
        assert len(inbox.messages) == 1
        issue(trusted, "other.example")
        trust(trusted, "other.example")  # a valid certificate, for another name
        with pytest.raises(ssl.SSLCertVerificationError):
            send(configured, message())
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_a_denied_smtp_server_is_refused_before_connecting(settings: Settings) -> None:
    with AcceptCounter() as listener:
        for host in ("127.0.0.1", "localhost", "127.1"):
            denied = smtp_settings(
                settings,
                smtp_host=host,
                smtp_port=listener.port,
                denied_hosts=["127.0.0.0/8"],
            )
            with pytest.raises(HostRefused, match="denied"):
                send(denied, message())
        with pytest.raises(HostRefused, match="metadata"):
            send(smtp_settings(settings, smtp_host="169.254.169.254"), message())
    assert listener.accepted == 0
