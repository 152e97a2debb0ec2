"""Limits before work against the real server: a 300 MB body is refused, not read.

The body is sent over a raw socket, so the test sees what a client sees: when the answer
comes, how much of the body the client managed to push before it, and whether the
server closed the connection. The server's memory is read from /proc.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.server import Server, running_server

BODY = 300 * 1024 * 1024
PIECE = b" " * 65536


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("limits")) as running:
        yield running


def rss_kib(pid: int) -> int:
    """The process's resident memory (KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@dataclass
class Outcome:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # bytes of the request body the client got out before it stopped
    seconds: float  # from the end of the request head to the status line
    closed: bool  # the server closed the connection after answering


def post_huge(server: Server, *, chunked: bool) -> Outcome:
    """POST 300 MB of body, unauthenticated, until the server answers or closes."""
    host, port = server.url.removeprefix("http://").split(":")
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}"
    head = (
        f"POST /api/v1/jobs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    ).encode()
    piece = b"%x\r\n%s\r\n" % (len(PIECE), PIECE) if chunked else PIECE
    sock = socket.create_connection((host, int(port)))
    sock.sendall(head)
    started = time.monotonic()
    sock.setblocking(False)
    sent, received, answered_at = 0, b"", 0.0
    try:
        while sent < BODY and not received:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if not readable and not writable:
                raise AssertionError("the server neither answered nor read for 10 s")
            if readable:
                received = sock.recv(65536)
                answered_at = time.monotonic()
                break
            try:
                sent += sock.send(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # closed on us: the answer is waiting to be read
        sock.setblocking(True)
        sock.settimeout(10)
        while not _complete(received):
            try:
                more = sock.recv(65536)
            except ConnectionResetError:
                break
            if not more:
                break
            answered_at = answered_at or time.monotonic()
            received += more
        closed = _closes_after(sock)
    finally:
        sock.close()
    head_text, _, body = received.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return Outcome(int(lines[0].split()[1]), headers, body, sent, answered_at - started, closed)


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(": ")
        if name.lower() == "content-length":
            return len(body) >= int(value)
    return False


def _closes_after(sock: socket.socket) -> bool:
    """Whether the server closes the connection once its answer is sent (not 5 s later,
    when an idle keep-alive connection would be closed)."""
    sock.settimeout(2)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_300_mb_body_is_refused_unread_before_authentication(
    server: Server, chunked: bool
) -> None:
    for _ in range(3):  # warm up: the first requests allocate what every request needs
        server.client.post("/api/v1/workspaces", json={"name": "x" * 300})
    before = rss_kib(server.process.pid)
    outcome = post_huge(server, chunked=chunked)
    after = rss_kib(server.process.pid)
    assert outcome.status == 413, outcome
    detail = json.loads(outcome.body)
    assert detail["status"] == 413 and "CONVEYOR_MAX_BODY_BYTES" in detail["detail"]
    assert outcome.headers["content-type"].startswith("application/problem+json")
    assert outcome.headers["connection"] == "close" and outcome.closed
    assert outcome.sent < BODY // 10, f"the client had to send {outcome.sent:,} bytes"
    assert outcome.seconds < 5.0, outcome  # at once, not after the body: room for load
    assert after - before < 20 * 1024, f"RSS grew {after - before:,} KiB"
    print(
        f"413 after {outcome.seconds:.3f} s, {outcome.sent:,} bytes sent, RSS +{after - before} KiB"
    )
    assert server.client.get("/healthz").status_code == 200


def test_answers_carry_no_banner_and_the_access_log_no_query(server: Server) -> None:
    response = server.client.get("/api/v1/workspaces", params={"token": "cvy_in_a_query_42"})
    assert response.status_code == 422  # not a filter of workspaces; logged all the same
    assert "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    deadline = time.monotonic() + 10
    while "GET /api/v1/workspaces HTTP/1.1" not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()[-2000:]
        time.sleep(0.1)
    assert "cvy_in_a_query_42" not in server.log_text()


def test_a_deep_body_is_refused_and_the_connection_kept(server: Server) -> None:
    deep = server.client.post("/api/v1/workspaces", content="[" * 100_000 + "]" * 100_000)
    assert deep.status_code == 400 and "CONVEYOR_MAX_JSON_DEPTH" in deep.text
    assert "connection" not in deep.headers  # read to its end: the connection stays open
    assert server.client.post("/api/v1/workspaces", json={"name": "after"}).status_code == 201


def test_a_client_that_asks_first_is_told_413_instead_of_100_continue(server: Server) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    head = (
        f"PUT /_connector/big HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {BODY}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)  # and not a byte of the body
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), answer
    assert b"x-elastic-product: Elasticsearch" in answer  # in the Elastic surface's shape
