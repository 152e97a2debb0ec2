"""The five requests every native collection answers, for the sync and the async client.

`/api/v1/<collection>` lists (`limit`, `offset`, `sort`, and `field=value` filters with
`__in`, `__gte`, `__lte`), creates, and `/<collection>/{id}` gets, updates and deletes.
A resource class names its path and its output schema and inherits these; it adds only
what is particular to it (a connection's test, a job's execute).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from conveyor.client.errors import ClientError, NotFoundError
from conveyor.client.transport import (
    PAGE_SIZE,
    AsyncTransport,
    Call,
    Transport,
    body,
    model,
    nothing,
    page_call,
)
from conveyor.schemas.common import Page

Out = TypeVar("Out", bound=BaseModel)

Body = BaseModel | Mapping[str, Any] | None


def one_named(key: str, page: Page[Out], path: str) -> Out:
    """The one item of a page of items named `key`."""
    what = path.rsplit("/", 1)[-1].rstrip("s")
    if page.total == 1:
        return page.items[0]
    if page.total == 0:
        raise NotFoundError(404, {"title": "Not found", "detail": f"no {what} {key!r}"})
    raise ClientError(f"{page.total} {what}s are named {key!r}: give the id")


class Calls(Generic[Out]):
    """The requests of one collection, as `Call`s (shared by both clients)."""

    path: ClassVar[str]
    out: type[Out]

    def list_call(
        self, limit: int | None, offset: int | None, sort: str | None, filters: Mapping[str, Any]
    ) -> Call[Page[Out]]:
        return page_call(
            self.path, self.out, {"limit": limit, "offset": offset, "sort": sort, **filters}
        )

    def get_call(self, key: str) -> Call[Out]:
        return Call("GET", f"{self.path}/{key}", model(self.out))

    def create_call(self, data: Body, fields: Mapping[str, Any]) -> Call[Out]:
        return Call("POST", self.path, model(self.out), json=body(data, fields))

    def update_call(self, key: str, data: Body, fields: Mapping[str, Any]) -> Call[Out]:
        return Call("PATCH", f"{self.path}/{key}", model(self.out), json=body(data, fields))

    def delete_call(self, key: str) -> Call[None]:
        return Call("DELETE", f"{self.path}/{key}", nothing)


class Readable(Calls[Out]):
    """A collection over the sync client that can be listed and read."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        sort: str | None = None,
        **filters: Any,
    ) -> Page[Out]:
        """One page (`items`, `total`, `limit`, `offset`); filters as `status="error"`,
        `status__in=["error", "canceled"]` or `created_at__gte="2026-01-01"`."""
        return self._t.call(self.list_call(limit, offset, sort, filters))

    def iter(
        self, *, sort: str | None = None, page_size: int = PAGE_SIZE, **filters: Any
    ) -> Iterator[Out]:
        """Every matching item, fetching page after page as the iteration goes."""
        return self._t.pages(lambda offset: self.list_call(page_size, offset, sort, filters))

    def get(self, key: str) -> Out:
        """One item, by its id (or, where the API allows, its name)."""
        return self._t.call(self.get_call(key))


class Collection(Readable[Out]):
    """A collection over the sync client whose items are named, created, changed and
    deleted."""

    def find(self, key: str) -> Out:
        """The item with this id or, failing that, this name (`NotFoundError` when none,
        `ClientError` when the name is used in several workspaces the token sees)."""
        try:
            return self.get(key)
        except NotFoundError:
            named = self.list(name=key, limit=2)
        return one_named(key, named, self.path)

    def create(self, data: Body = None, /, **fields: Any) -> Out:
        """Create an item from a schema model, a mapping or keywords (keywords win)."""
        return self._t.call(self.create_call(data, fields))

    def update(self, key: str, data: Body = None, /, **fields: Any) -> Out:
        """Change the fields given; the others keep their values."""
        return self._t.call(self.update_call(key, data, fields))

    def delete(self, key: str) -> None:
        """Delete an item."""
        self._t.call(self.delete_call(key))


class AsyncReadable(Calls[Out]):
    """A collection over the async client that can be listed and read: `Readable`'s
    methods, awaited."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def list(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        sort: str | None = None,
        **filters: Any,
    ) -> Page[Out]:
        """One page; see `Collection.list`."""
        return await self._t.call(self.list_call(limit, offset, sort, filters))

    def iter(
        self, *, sort: str | None = None, page_size: int = PAGE_SIZE, **filters: Any
    ) -> AsyncIterator[Out]:
        """Every matching item (`async for`), fetching page after page."""
        return self._t.pages(lambda offset: self.list_call(page_size, offset, sort, filters))

    async def get(self, key: str) -> Out:
        """One item, by its id."""
        return await self._t.call(self.get_call(key))


class AsyncCollection(AsyncReadable[Out]):
    """`Collection`'s methods, awaited."""

    async def find(self, key: str) -> Out:
        """The item with this id or, failing that, this name; see `Collection.find`."""
        try:
            return await self.get(key)
        except NotFoundError:
            named = await self.list(name=key, limit=2)
        return one_named(key, named, self.path)

    async def create(self, data: Body = None, /, **fields: Any) -> Out:
        """Create an item from a schema model, a mapping or keywords (keywords win)."""
        return await self._t.call(self.create_call(data, fields))

    async def update(self, key: str, data: Body = None, /, **fields: Any) -> Out:
        """Change the fields given; the others keep their values."""
        return await self._t.call(self.update_call(key, data, fields))

    async def delete(self, key: str) -> None:
        """Delete an item."""
        await self._t.call(self.delete_call(key))
