"""Turning a service's page of rows into the list response shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from conveyor.schemas.common import Page
from conveyor.services.listing import Paged

R = TypeVar("R")


def page_of(paged: Paged[R], convert: Callable[[R], Any]) -> Page[Any]:
    """`{"items", "total", "limit", "offset"}` with each row converted for output."""
    return Page(
        items=[convert(row) for row in paged.rows],
        total=paged.total,
        limit=paged.limit,
        offset=paged.offset,
    )
