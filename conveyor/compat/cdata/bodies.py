"""How CData Sync's requests are read: bodies, keys, values and the workspace named.

CData's clients and documents spell one key many ways and send every value as text, so
bodies are matched the way CData matches them: `TruncateTableData`, `Truncate_Table_Data`
and `truncate_table_data` are one key (`canonical`), and `"true"`, `"True"` and `true`
one value (`to_bool`). A body is read raw (`JSONBody`), tolerating the bare keys of
CData's own examples, and `Fields` remembers which keys were understood so that the rest
can be refused with a 400 rather than silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from conveyor.errors import InvalidInput
from conveyor.services import workspaces
from conveyor.services.context import Context

M = TypeVar("M", bound=BaseModel)
_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_][\w\-]*)\s*:")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object sent, `{}` when none; tolerates the bare keys of CData's examples."""
    raw = (await request.body()).decode("utf-8-sig", errors="replace").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:  # not JSON, or a number Python refuses to convert
        relaxed = _TRAILING_COMMA.sub(r"\1", _BARE_KEY.sub(r'\1"\2":', raw))
        try:
            data = json.loads(relaxed)
        except ValueError:
            reason = (
                f"{exc.msg} at position {exc.pos}"
                if isinstance(exc, json.JSONDecodeError)
                else str(exc)
            )
            raise InvalidInput(f"the body is not JSON: {reason}", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return data


JSONBody = Annotated[dict[str, Any], Depends(read_body)]
"""A route parameter: the request's body as a JSON object, read as CData's clients send it."""


def canonical(key: str) -> str:
    """A key as CData compares them: case, `_`, `-` and spaces ignored."""
    return re.sub(r"[^a-z0-9#]", "", key.lower())


class Fields:
    """A body (or query) whose keys are looked up canonically, remembering which were used."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.items = {canonical(key): (key, value) for key, value in data.items()}
        self.used: set[str] = set()

    def has(self, *names: str) -> bool:
        return any(canonical(name) in self.items for name in names)

    def key(self, *names: str) -> str:
        """The spelling the client used for the first of `names` it sent."""
        for name in names:
            if (found := self.items.get(canonical(name))) is not None:
                return found[0]
        return names[0]

    def get(self, *names: str, default: Any = None) -> Any:
        for name in names:
            wanted = canonical(name)
            if wanted in self.items:
                self.used.add(wanted)
                return self.items[wanted][1]
        return default

    def numbered(self, prefix: str) -> list[str]:
        """`Query#1 … Query#n` (or `Query1`), in number order."""
        pattern = re.compile(re.escape(canonical(prefix)) + r"#?(\d+)$")
        found = []
        for key, (_, value) in self.items.items():
            if match := pattern.match(key):
                self.used.add(key)
                found.append((int(match.group(1)), value))
        return [str(value) for _, value in sorted(found) if value not in (None, "")]

    def unused(self) -> list[str]:
        return [original for key, (original, _) in self.items.items() if key not in self.used]

    def refuse_unknown(self, *ignored: str) -> None:
        """400 naming the first key that was not understood (`ignored` may be sent)."""
        for name in ignored:
            self.get(name)
        if unknown := self.unused():
            raise InvalidInput(f"unknown field {unknown[0]!r}", field=unknown[0])


def to_bool(value: Any, field: str) -> bool:
    """A boolean from `true`, `"true"`, `"True"`, `"1"`, `1`…; anything else is a 400."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise InvalidInput(f"{field}: {value!r} is not a boolean", field=field)


def to_int(value: Any, field: str) -> int:
    """An integer from a number or its digits (CData's clients send numbers as strings)."""
    if isinstance(value, bool):
        raise InvalidInput(f"{field}: {value!r} is not a number", field=field)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a whole number", field=field) from None


def to_text(value: Any) -> str:
    """An id or name sent as a number or a string, as a string."""
    return "" if value is None else str(value).strip()


def model(cls: type[M], names: Mapping[str, str], /, **values: Any) -> M:
    """A native request model built from CData's fields: a value the model refuses is the
    caller's error (400), named by the key CData sends (`names`: native → CData), never an
    unhandled `ValidationError` (a 500)."""
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        native = str(first["loc"][0]) if first["loc"] else ""
        sent = names.get(native, native)
        message = f"{sent}: {first['msg']}" if sent else str(first["msg"])
        raise InvalidInput(message, field=sent or None) from None


def requested_workspace(ctx: Context, request: Request, body: Fields | None = None) -> str | None:
    """The workspace a call names (`WorkspaceId` in the body, or `?workspaceId=`), by id or
    name (`default` is the default workspace), if any."""
    value = body.get("WorkspaceId") if body is not None else None
    if value in (None, ""):
        value = next(
            (v for k, v in request.query_params.items() if canonical(k) == "workspaceid"), None
        )
    return None if value in (None, "") else workspaces.find_id(ctx, to_text(value))
