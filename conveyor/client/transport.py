"""One request description, executed by a sync or an async transport over httpx.

Each resource method builds a `Call` — method, path, query, body, and how to read the
answer into a typed result — and hands it to its transport. The same description serves
both clients, so `Client` and `AsyncClient` cannot drift apart: only the awaiting differs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from conveyor import __version__
from conveyor.client.errors import ConnectionFailed, error_from
from conveyor.schemas.common import Page

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_URL = "http://127.0.0.1:8077"
PAGE_SIZE = 200
"""Items per request when iterating over a whole list."""


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to the API and how its answer becomes a `T`."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None


def query(params: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters as the API reads them: booleans lowercase, lists comma-separated,
    `None` left out."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list | tuple | set | frozenset):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


def body(model: BaseModel | Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A request body: a schema model's fields that were set, or a mapping, plus keywords."""
    if isinstance(model, BaseModel):
        base = model.model_dump(mode="json", exclude_unset=True, by_alias=False)
    else:
        base = dict(model or {})
    return {**base, **{k: v for k, v in fields.items()}}


def page_call(path: str, out: type[M], params: Mapping[str, Any]) -> Call[Page[M]]:
    """One page of a list, its items read as `out`."""
    page = Page[out]  # type: ignore[valid-type]
    return Call("GET", path, page.model_validate, query(params))


def model(out: type[M]) -> Callable[[Any], M]:
    """Read a JSON object as `out`."""
    return out.model_validate


def nothing(_: Any) -> None:
    """An answer without a body (204)."""
    return None


def settings(url: str | None, token: str | None) -> tuple[str, str | None]:
    """The server's URL and the token: given, else `CONVEYOR_URL` and `CONVEYOR_TOKEN`."""
    url = url or os.environ.get("CONVEYOR_URL") or DEFAULT_URL
    token = token if token is not None else os.environ.get("CONVEYOR_TOKEN") or None
    return url.rstrip("/"), token


def headers(token: str | None) -> dict[str, str]:
    """What every request carries: the bearer token and who is asking."""
    sent = {"User-Agent": f"conveyor-client/{__version__}", "Accept": "application/json"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return sent


def _decode(response: httpx.Response) -> Any:
    if response.is_error:
        raise error_from(response)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


class Transport:
    """Executes calls over an `httpx.Client`."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(self, call: Call[T]) -> T:
        """Send the request; the answer as a `T`, or the error it stands for raised."""
        try:
            response = self.http.request(
                call.method, call.path, params=call.params or None, json=call.json
            )
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{self.http.base_url}: {exc}") from exc
        return call.parse(_decode(response))

    def pages(self, make: Callable[[int], Call[Page[M]]]) -> Iterator[M]:
        """Every item of a list, page after page (`make` builds the call at an offset)."""
        offset = 0
        while True:
            page = self.call(make(offset))
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    def download(self, path: str, target: Path) -> Path:
        """Stream a download into a file; the file written."""
        try:
            with self.http.stream("GET", path) as response:
                if response.is_error:
                    response.read()
                    raise error_from(response)
                with target.open("wb") as sink:
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{self.http.base_url}: {exc}") from exc
        return target


class AsyncTransport:
    """Executes calls over an `httpx.AsyncClient`."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, call: Call[T]) -> T:
        """Send the request; the answer as a `T`, or the error it stands for raised."""
        try:
            response = await self.http.request(
                call.method, call.path, params=call.params or None, json=call.json
            )
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{self.http.base_url}: {exc}") from exc
        return call.parse(_decode(response))

    async def pages(self, make: Callable[[int], Call[Page[M]]]) -> AsyncIterator[M]:
        """Every item of a list, page after page (`make` builds the call at an offset)."""
        offset = 0
        while True:
            page = await self.call(make(offset))
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    async def download(self, path: str, target: Path) -> Path:
        """Stream a download into a file; the file written."""
        try:
            async with self.http.stream("GET", path) as response:
                if response.is_error:
                    await response.aread()
                    raise error_from(response)
                with target.open("wb") as sink:
                    async for chunk in response.aiter_bytes():
                        sink.write(chunk)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{self.http.base_url}: {exc}") from exc
        return target
