"""Pre- and post-job events held to the workspace's reach, against receivers on 127.0.0.1.

A workspace's events may not reach loopback unless it is listed; a refusal happens before
any packet is sent (a listener counts accepts) and reads the same whatever listens on the
port. Delivered events go to the vetted address with the name's Host header; redirects
are never followed; a receiver's text never reaches a run log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.domain import EngineSettings, JobEvent, RunLoad
from conveyor.engine import runner
from conveyor.engine.reporting import NullReporter
from conveyor.engine.spec import Endpoint, RunSpec
from conveyor.errors import InvalidInput
from conveyor.policy import HostRefused, Reach, hosts
from conveyor.runtime import Runtime
from conveyor.store.models import Job
from conveyor.webhooks import EventFailed, check_url, deliver, verify
from tests.integration.test_api import make_job, wait_final
from tests.listeners import AcceptCounter
from tests.tls import issue

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cw=="
WORKSPACE = Reach(private_network=False)
"""A workspace's events: nothing listed."""
LISTED = Reach(private_network=False, allowed_hosts=("127.0.0.1", "rebind.example"))
CANARY = "CANARY-internal-service-text"


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records requests and answers as it is told."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.body = b"{}"
        self.headers: dict[str, str] = {"content-type": "application/json"}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_an_unlisted_loopback_receiver_is_refused_before_connecting() -> None:
    with AcceptCounter() as listener:
        with pytest.raises(HostRefused) as open_port:
            deliver(f"http://127.0.0.1:{listener.port}/hook", "e", {}, reach=WORKSPACE)
        for host in ("localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"):
            with pytest.raises(HostRefused):
                deliver(f"http://{host}:{listener.port}/", "e", {}, reach=WORKSPACE)
    assert listener.accepted == 0
    closed = AcceptCounter()
    closed.close()  # nothing listens on this port any more
    with pytest.raises(HostRefused) as closed_port:
        deliver(f"http://127.0.0.1:{closed.port}/hook", "e", {}, reach=WORKSPACE)
    assert open_port.value.message == closed_port.value.message  # no port scanner


def test_an_event_url_is_checked_by_name_when_stored() -> None:
    for url in ("http://localhost:8080/x", "https://[::1]/", "http://0x7f.1/", "http://0/"):
        with pytest.raises(HostRefused):
            check_url(url, WORKSPACE)
    for url in ("ftp://hooks.example.com/", "http:///path", "http://[::1/"):
        with pytest.raises(InvalidInput):
            check_url(url, WORKSPACE)
    check_url("https://hooks.example.com/pre", WORKSPACE)
    check_url("http://127.0.0.1:9/x", LISTED)


def test_a_listed_receiver_gets_one_signed_event_under_its_own_name(
    receiver: Receiver, rebinding: None
) -> None:
    answer = deliver(receiver.url("rebind.example"), "job.finished", {"x": 1}, SECRET, reach=LISTED)
    assert answer.status_code == 200
    ((headers, body),) = receiver.requests
    assert headers["host"] == f"rebind.example:{receiver.port}"
    assert verify(SECRET, headers, body) and json.loads(body)["data"] == {"x": 1}


@pytest.mark.parametrize(
    ("certified", "delivered"), [("rebind.example", True), ("other.example", False)]
)
def test_https_verifies_the_certificate_for_the_name(
    receiver: Receiver,
    rebinding: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    certified: str,
    delivered: bool,
) -> None:
    """The request goes to 127.0.0.1, yet TLS sends and verifies the URL's name."""
    import certifi

    cert, key = issue(tmp_path, certified)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    monkeypatch.setattr(certifi, "where", lambda: str(cert))  # the only authority trusted
    url = f"https://rebind.example:{receiver.port}/hook"
    if delivered:
        assert deliver(url, "e", {}, reach=LISTED).status_code == 200
        assert receiver.requests[0][0]["host"] == f"rebind.example:{receiver.port}"
    else:
        with pytest.raises(EventFailed, match="failed the TLS handshake"):
            deliver(url, "e", {}, reach=LISTED, attempts=1)
        assert receiver.requests == []


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    with AcceptCounter() as elsewhere:
        receiver.status = 307
        receiver.headers = {"location": f"http://127.0.0.1:{elsewhere.port}/internal"}
        answer = deliver(receiver.url(), "e", {}, reach=LISTED)
    assert answer.status_code == 307 and elsewhere.accepted == 0


def test_every_retry_checks_the_host_again(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    monkeypatch.setattr(hosts, "lookup", lambda name: next(answers))
    receiver.status = 503
    with pytest.raises(HostRefused, match=r"169\.254\.169\.254"):
        deliver(receiver.url("rebind.example"), "e", {}, reach=LISTED, backoff=0)
    assert len(receiver.requests) == 1


def test_failures_are_told_in_our_words(receiver: Receiver) -> None:
    receiver.status, receiver.body = 502, CANARY.encode()
    with pytest.raises(EventFailed) as failed:
        deliver(receiver.url(), "e", {}, reach=LISTED, backoff=0, attempts=2)
    assert failed.value.message == "the event receiver at 127.0.0.1 answered 502 (2 attempts)"
    with banner() as port, pytest.raises(EventFailed) as garbled:
        deliver(f"http://127.0.0.1:{port}/", "e", {}, reach=LISTED, backoff=0, attempts=1)
    assert "did not answer with HTTP" in garbled.value.message
    assert CANARY not in garbled.value.message


@contextlib.contextmanager
def banner() -> Iterator[int]:
    """A TCP service on 127.0.0.1 that greets with a line of text, as SSH or Redis do."""
    sock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = sock.accept()
            with conn:
                conn.settimeout(30)
                conn.sendall(f"SSH-2.0-{CANARY}\r\n".encode())
                conn.recv(65536)
                # then hang up as OpenSSH does ("Invalid SSH identification string"), but
                # read on: closing with the request half read would reset the connection,
                # and the client could meet the reset before the banner
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def pre_job(url: str, reach: Reach) -> tuple[str, list[str]]:
    """Run a job with nothing to do but its pre-job event; its status and run log."""
    spec = RunSpec(
        run_id="run",
        job_id="job",
        job_name="job",
        job_type="standard",
        load=RunLoad.incremental,
        settings=EngineSettings(),
        source=Endpoint("memory://events-source"),
        destination=Endpoint("memory://events-destination"),
        tasks=(),
        pre_job_event=JobEvent(url=url, secret=SECRET),
        event_reach=reach,
    )
    reporter = NullReporter()
    outcome = runner.execute(spec, reporter, threading.Event())
    lines = [message for _, message, _ in reporter.lines] + [str(outcome.error or "")]
    return outcome.status.value, lines


@pytest.mark.parametrize(
    ("answer", "status", "shown"),
    [
        ({"cancel": True, "reason": "maintenance window"}, "canceled", "maintenance window"),
        ({"cancel": True}, "canceled", None),
        ({"cancel": True, "reason": f"{CANARY}\nsecond line"}, "canceled", None),
        ({"cancel": True, "reason": "x" * 201}, "canceled", None),
        ({"cancel": True, "reason": "ok", "detail": CANARY}, "canceled", None),
        ({"cancel": False, "reason": CANARY}, "completed", None),
        ({"status": CANARY}, "completed", None),
    ],
)
def test_a_pre_job_answer_is_logged_by_status_and_the_documented_reason_only(
    receiver: Receiver, answer: dict[str, Any], status: str, shown: str | None
) -> None:
    receiver.body = json.dumps(answer).encode()
    final, lines = pre_job(receiver.url(), LISTED)
    assert final == status, lines
    assert "pre-job event answered 200" in lines
    assert not any(CANARY in line for line in lines)
    if shown is not None:
        assert any(shown in line for line in lines)


def test_a_pre_job_answer_that_is_not_json_is_not_logged(receiver: Receiver) -> None:
    receiver.status, receiver.body = 404, f"<h1>{CANARY}</h1>".encode()
    final, lines = pre_job(receiver.url(), LISTED)
    assert final == "completed" and "pre-job event answered 404" in lines
    assert not any(CANARY in line for line in lines)


def test_a_pre_job_event_outside_the_reach_fails_the_run_unsent(receiver: Receiver) -> None:
    final, lines = pre_job(receiver.url(), WORKSPACE)
    assert final == "error" and receiver.requests == []
    assert any("pre-job event failed: host '127.0.0.1'" in line for line in lines)


def test_the_post_job_event_is_held_to_the_reach_of_who_set_it(
    client: TestClient,
    runtime: Runtime,
    shop_db: Path,
    tmp_path: Path,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Events a standard user set reach loopback only when listed: the run completes and
    nothing is sent. (The API refuses such a URL when it is stored; here it was stored
    by an admin and handed over, as if 127.0.0.1 had been unlisted since.)"""
    job = make_job(client, shop_db, tmp_path, post_job_event={"url": receiver.url()})
    with runtime.unit() as ctx:
        ctx.session.get(Job, job["id"]).events_admin_configured = False
    with caplog.at_level(logging.WARNING, logger="conveyor.services.automation"):
        run = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True}).json()
        assert wait_final(client, run["id"])["status"] == "completed"
        deadline = time.monotonic() + 15
        while "post-job event" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
    assert "host '127.0.0.1' is a loopback address" in caplog.text
    assert receiver.requests == []
