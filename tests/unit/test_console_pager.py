"""The console's pager: which slice of a long list a page shows, and its links."""

from __future__ import annotations

from starlette.requests import Request

from conveyor.console.web import PAGE_SIZE, Pager


def request(query: str) -> Request:
    return Request(
        {"type": "http", "path": "/ui/runs", "query_string": query.encode(), "headers": []}
    )


def test_the_first_page_links_to_the_next_only() -> None:
    pager = Pager.of(request("status=error")).counted(PAGE_SIZE * 2 + 1)
    assert pager.params == {"limit": str(PAGE_SIZE), "offset": "0"}
    assert pager.previous is None
    assert pager.next == f"/ui/runs?status=error&offset={PAGE_SIZE}"


def test_a_middle_page_keeps_the_filters_both_ways() -> None:
    pager = Pager.of(request(f"status=error&offset={PAGE_SIZE}")).counted(PAGE_SIZE * 3)
    assert pager.previous == "/ui/runs?status=error&offset=0"
    assert pager.next == f"/ui/runs?status=error&offset={PAGE_SIZE * 2}"


def test_the_last_page_has_no_next() -> None:
    pager = Pager.of(request(f"offset={PAGE_SIZE * 2}")).counted(PAGE_SIZE * 2 + 1)
    assert pager.next is None
    assert pager.previous == f"/ui/runs?offset={PAGE_SIZE}"


def test_a_bad_or_unaligned_offset_falls_on_a_page() -> None:
    assert Pager.of(request("offset=-5")).offset == 0
    assert Pager.of(request("offset=abc")).offset == 0
    assert Pager.of(request(f"offset={PAGE_SIZE + 7}")).offset == PAGE_SIZE
