"""Hosts hold too: a standard user reaches no loopback service unless an admin listed it.

Every listener is on 127.0.0.1 and counts what connects to it; nothing here sends
traffic beyond loopback. The attacks are issue 14's: a pre-job event pointed at a
loopback-only service whose answer landed in the run log, and connection tests whose
errors told open ports from closed ones.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.security import Site, problem, site
from tests.integration.test_automation import Receiver
from tests.listeners import AcceptCounter

pytestmark = pytest.mark.e2e

INTERNAL_TEXT = "internal-admin-panel-7c41"
"""What a loopback-only service answers: it must never reach a run log."""


@pytest.fixture
def listener() -> Iterator[AcceptCounter]:
    with AcceptCounter() as found:
        yield found


@pytest.fixture
def internal() -> Iterator[Receiver]:
    """A loopback-only service whose answers are meant for insiders."""
    found = Receiver(answer={"secret": INTERNAL_TEXT, "cancel": False})
    yield found
    found.close()


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from site(tmp_path_factory.mktemp("network"))


def shop(s: Site) -> str:
    path = s.folder("a") / "shop.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    return str(path)


LOOPBACK_FORMS = ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "127.1", "2130706433"]


def test_a_standard_user_reaches_no_loopback_server(s: Site, listener: AcceptCounter) -> None:
    sam = s.users["sam"]
    for host in LOOPBACK_FORMS:
        for scheme in ("postgresql", "mariadb"):
            refused = problem(sam.connect(f"{scheme}://u@{host}:{listener.port}/db"), 403)
            assert "CONVEYOR_ALLOWED_HOSTS" in refused["detail"] or "loopback" in refused["detail"]
    assert listener.accepted == 0


def test_refusals_do_not_tell_open_ports_from_closed(s: Site, listener: AcceptCounter) -> None:
    """The old port scanner: errors differed for refused, closed and silent ports."""
    sam = s.users["sam"]
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    details = {
        port: problem(sam.connect(f"postgresql://u@127.0.0.1:{port}/db"), 403)["detail"]
        for port in (listener.port, closed_port)
    }
    assert details[listener.port] == details[closed_port]
    assert listener.accepted == 0


def test_a_standard_users_event_cannot_call_a_loopback_service(s: Site, internal: Receiver) -> None:
    sam = s.users["sam"]
    source = sam.connect(f"sqlite:///{shop(s)}").json()
    job = {
        "name": "leak-by-event",
        "workspace_id": sam.workspace_id,
        "source_connection_id": source["id"],
        "export_format": "csv",
        "queries": ["REPLICATE [t]"],
    }
    for event in ("pre_job_event", "post_job_event"):
        refused = problem(
            sam.client.post("/api/v1/jobs", json={**job, event: {"url": internal.url}}), 403
        )
        assert refused["field"] == f"{event}.url"
    assert not internal.events


def test_an_admins_event_is_called_and_only_its_status_is_logged(
    s: Site, internal: Receiver
) -> None:
    admin, sam = s.admin, s.users["sam"]
    source = sam.connect(f"sqlite:///{shop(s)}").json()
    created = admin.client.post(
        "/api/v1/jobs",
        json={
            "name": "admin-hooked",
            "workspace_id": s.workspaces["a"]["id"],
            "source_connection_id": source["id"],
            "export_format": "csv",
            "queries": ["REPLICATE [t]"],
            "pre_job_event": {"url": internal.url},
        },
    )
    assert created.status_code == 201, created.text
    run = s.run(sam, created.json()["id"])
    assert run["status"] == "completed", run
    assert len(internal.events) == 1
    logs = s.logs(run["id"])
    assert "200" in logs and INTERNAL_TEXT not in logs


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, AcceptCounter]]:
    """A server whose admin listed one loopback port's host for everyone."""
    env = {"CONVEYOR_ALLOWED_HOSTS": "127.0.0.1"}
    with AcceptCounter() as listener:
        yield from ((found, listener) for found in site(tmp_path_factory.mktemp("listed"), env))


def test_a_listed_host_is_reachable_by_standard_users(listed: tuple[Site, AcceptCounter]) -> None:
    s, listener = listed
    sam = s.users["sam"]
    created = sam.connect(f"postgresql://u@127.0.0.1:{listener.port}/db")
    assert created.status_code == 201, created.text
    tested = sam.client.post(f"/api/v1/connections/{created.json()['id']}/test").json()
    assert tested["ok"] is False  # the listener hangs up: but it was reached
    assert listener.accepted >= 1
    # Other loopback names are not listed.
    problem(sam.connect(f"postgresql://u@[::1]:{listener.port}/db"), 403)
    # And a cloud metadata address stays refused for everyone.
    for who in (sam, s.admin):
        problem(who.connect("postgresql://u@169.254.169.254/db"), 403)


def test_viewers_cannot_scan_either(listed: tuple[Site, AcceptCounter], tmp_path: Path) -> None:
    s, listener = listed
    made = s.users["sam"].connect(f"postgresql://u@127.0.0.1:{listener.port}/db").json()
    before = listener.accepted
    problem(s.users["vic"].client.post(f"/api/v1/connections/{made['id']}/test"), 403)
    assert listener.accepted == before
