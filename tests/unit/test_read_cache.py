"""The read cache's bookkeeping: keys, the bounded store of answers, clock-bound answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

from starlette.datastructures import Headers

from conveyor.api.read_cache import Answer, Answers, VersionReads, key_of
from conveyor.domain import Role
from conveyor.services import freshness
from conveyor.services.context import Principal

ADMIN = Principal("u1", "admin", Role.admin)


def answer(version: Any, body: bytes = b"{}", principal: Principal = ADMIN) -> Answer:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]}
    return Answer(version, principal, None, start, body, None)


def scope(path: str = "/api/v1/jobs", query: bytes = b"", **headers: str) -> dict[str, Any]:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8077"), *raw],
    }


def key(**kwargs: Any) -> Any:
    request = scope(**kwargs)
    return key_of(request, Headers(scope=request))


def test_keys_tell_callers_urls_and_accepted_types_apart() -> None:
    base = key(authorization="Bearer one")
    assert base == key(authorization="Bearer one")
    assert base != key(authorization="Bearer two")
    assert base != key(x_cdata_authtoken="one")
    assert base != key(authorization="Bearer one", query=b"limit=1")
    assert base != key(authorization="Bearer one", path="/api/v1/runs")
    assert base != key(authorization="Bearer one", accept="text/csv")
    assert b"one" not in repr(base).encode()  # the token itself is never kept


def test_a_request_without_credentials_has_no_key() -> None:
    assert key() is None


def test_a_new_version_drops_every_answer() -> None:
    answers = Answers(entries=10, size=1 << 20)
    answers.seen(1)
    answers.put(("k",), answer(1))  # type: ignore[arg-type]
    assert answers.get(("k",)) is not None  # type: ignore[arg-type]
    answers.seen(2)
    assert answers.get(("k",)) is None  # type: ignore[arg-type]
    assert answers.used == 0


def test_an_answer_of_an_older_version_is_not_kept() -> None:
    answers = Answers(entries=10, size=1 << 20)
    answers.seen(1)
    answers.seen(2)  # the store moved on while the answer was computed
    answers.put(("k",), answer(1))  # type: ignore[arg-type]
    assert len(answers) == 0


def test_entries_are_bounded_least_recently_used_first() -> None:
    answers = Answers(entries=2, size=1 << 20)
    answers.seen(1)
    for name in ("a", "b"):
        answers.put((name,), answer(1))  # type: ignore[arg-type]
    answers.get(("a",))  # type: ignore[arg-type]
    answers.put(("c",), answer(1))  # type: ignore[arg-type]
    assert answers.get(("b",)) is None  # type: ignore[arg-type]
    assert answers.get(("a",)) is not None  # type: ignore[arg-type]
    assert answers.get(("c",)) is not None  # type: ignore[arg-type]


def test_bytes_are_bounded_and_a_too_large_answer_is_not_kept() -> None:
    answers = Answers(entries=100, size=16 * 1000)
    answers.seen(1)
    answers.put(("huge",), answer(1, b"x" * 1001))  # type: ignore[arg-type]
    assert len(answers) == 0  # over a sixteenth of the budget
    for i in range(40):
        answers.put((str(i),), answer(1, b"x" * 900))  # type: ignore[arg-type]
        assert answers.used <= answers.size
    assert 0 < len(answers) < 40
    assert answers.get(("39",)) is not None  # type: ignore[arg-type]


def test_replacing_an_answer_counts_its_bytes_once() -> None:
    answers = Answers(entries=10, size=1 << 20)
    answers.seen(1)
    for _ in range(3):
        answers.put(("k",), answer(1, b"x" * 100))  # type: ignore[arg-type]
    assert answers.used == answer(1, b"x" * 100).size


def test_freshness_keeps_the_earliest_moment_and_is_a_no_op_outside() -> None:
    noon = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
    freshness.holds_until(noon)  # nobody observing: nothing to note, no error
    with freshness.observing() as fresh:
        assert fresh.until is None
        freshness.holds_until(noon)
        freshness.holds_until(noon + dt.timedelta(hours=1))
        freshness.holds_until(noon - dt.timedelta(hours=1))
    assert fresh.until == noon - dt.timedelta(hours=1)


class SlowVersions:
    """A remote data version whose reads wait until released, counting them."""

    remote = True

    def __init__(self) -> None:
        self.reads = 0
        self.release = threading.Event()

    def current(self) -> int:
        self.release.wait(timeout=30)
        self.release.clear()
        self.reads += 1
        return self.reads


def test_a_remote_version_read_serves_the_requests_that_arrived_before_it_began() -> None:
    async def scenario() -> None:
        versions = SlowVersions()
        reads = VersionReads(versions)  # type: ignore[arg-type]
        first = [asyncio.ensure_future(reads.current())]
        await asyncio.sleep(0.05)  # the first read is under way
        later = [asyncio.ensure_future(reads.current()) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert versions.reads == 0 and not any(f.done() for f in first + later)
        versions.release.set()
        assert await asyncio.gather(*first) == [1]
        assert not any(f.done() for f in later)  # arrived during read 1: read 2 is theirs
        versions.release.set()
        assert await asyncio.gather(*later) == [2, 2, 2]
        assert versions.reads == 2

    asyncio.run(scenario())
