"""What both CData Sync facades share: their error body, auth, bodies, statuses, workspaces.

CData's clients expect OData errors (`{"error": {"code", "message"}}`) and a 401 — never a
403 — for bad credentials, on every `/api.rsc` path. `render_error` is installed for that
prefix only (`cdata.install`), so `/api/v1` keeps its problem+json. Bodies are matched
the way CData matches them: `TruncateTableData`, `Truncate_Table_Data` and
`truncate_table_data` are one key, and `"true"`, `"True"` and `true` one value.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from conveyor.crypto import REDACTOR
from conveyor.domain import RunStatus, TaskRunStatus
from conveyor.errors import ConveyorError, InvalidInput
from conveyor.runtime import Runtime
from conveyor.services import workspaces
from conveyor.services.auth import authenticate
from conveyor.services.context import Context, Principal
from conveyor.services.listing import Paged
from conveyor.store.models import Run
from conveyor.store.session import unit_of_work

log = logging.getLogger(__name__)
T = TypeVar("T")

# --- statuses ----------------------------------------------------------------------------

RUN_STATUS = {
    RunStatus.completed: "SUCCESS",
    RunStatus.error: "FAILED",
    RunStatus.canceled: "CANCELLED",
}
"""Final statuses by name; every active one (pending, in progress, canceling, suspended) is
RUNNING, so a client polling until the status is no longer RUNNING stops only at the end."""
TASK_STATUS = {
    TaskRunStatus.completed: "SUCCESS",
    TaskRunStatus.error: "FAILED",
    TaskRunStatus.canceled: "CANCELLED",
    TaskRunStatus.skipped: "SKIPPED",
}
NEVER_RUN = "NONE"


def run_status(status: str | None) -> str:
    """A run's status in CData's words; `NONE` for a job that never ran."""
    if status is None or status == "idle":
        return NEVER_RUN
    return RUN_STATUS.get(RunStatus(status), "RUNNING")


def task_status(status: str) -> str:
    """A task result's status in CData's words."""
    return TASK_STATUS.get(TaskRunStatus(status), "RUNNING")


def runtime_ms(run: Run) -> int | None:
    """How long a run took (or has been taking), in milliseconds."""
    if run.started_at is None:
        return None
    end = run.completed_at or dt.datetime.now(dt.UTC)
    return max(0, int((end - run.started_at).total_seconds() * 1000))


def run_details(run: Run) -> str:
    """The one-line outcome CData shows in history: Completed, the error, or the state."""
    if run.error:
        return REDACTOR.redact(run.error)
    return {
        "completed": "Completed",
        "canceled": "Canceled",
        "pending": "Queued",
        "in_progress": "Running",
        "canceling": "Canceling",
        "suspended": "Suspended; it resumes when a worker is available",
    }.get(run.status, run.status)


def iso(value: dt.datetime | None) -> str | None:
    """A timestamp as CData writes it: ISO 8601 with its offset, to the second."""
    return None if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds")


# --- errors ------------------------------------------------------------------------------


class CDataJSONResponse(JSONResponse):
    """JSON with timestamps written as `iso` does."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            plain(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


def plain(value: Any) -> Any:
    """The value with datetimes and dates turned into ISO strings, recursively."""
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def odata_error(status: int, code: str, message: str, **extra: Any) -> Response:
    """`{"error": {"code", "message", …}}` with the status; 401s name the schemes."""
    body = {"code": code, "message": REDACTOR.redact(message)}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": 'Basic realm="CData Sync"'} if status == 401 else None
    return CDataJSONResponse({"error": body}, status_code=status, headers=headers)


async def _conveyor_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConveyorError)
    # OData answers every malformed request with 400; the native API's 422 becomes that.
    status = 400 if exc.status_code == 422 else exc.status_code
    return odata_error(status, type(exc).__name__, exc.message, **exc.extra)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    return odata_error(400, "InvalidInput", f"{where}: {first.get('msg', 'invalid')}".strip(": "))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "NotFound", 405: "MethodNotAllowed", 401: "AuthenticationFailed"}
    message = str(exc.detail)
    if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        what = "is not a CData API resource" if exc.status_code == 404 else "is not allowed here"
        message = f"{request.method} {request.url.path} {what}"
    return odata_error(exc.status_code, codes.get(exc.status_code, "HTTPError"), message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return odata_error(500, "InternalServerError", f"{type(exc).__name__}: {exc}")


async def render_error(request: Request, exc: Exception) -> Response:
    """Any failure under `/api.rsc` as an OData error (installed by `cdata.install`)."""
    if isinstance(exc, ConveyorError):
        return await _conveyor_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return await _validation_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _http_error(request, exc)
    return await _unexpected(request, exc)


# --- authentication and units of work ----------------------------------------------------


def _runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


def _units(request: Request, any_basic_user: bool) -> Iterator[Context]:
    rt = _runtime(request)
    with unit_of_work(rt.factory) as session:
        principal = authenticate(session, request.headers, any_basic_user=any_basic_user)
        request.state.principal = principal  # for the audit recorder
        yield rt.context(session, principal)


def v1_context(request: Request) -> Iterator[Context]:
    """The request's unit of work; Basic is `user:token` or `user:password`."""
    yield from _units(request, any_basic_user=False)


def v2_context(request: Request) -> Iterator[Context]:
    """As `v1_context`, but Basic may carry any user name with a token, as CData's v2 says."""
    yield from _units(request, any_basic_user=True)


def v1_caller(request: Request) -> Principal:
    """The caller, for routes that manage their own transactions."""
    with unit_of_work(_runtime(request).factory) as session:
        principal = authenticate(session, request.headers)
        request.state.principal = principal  # for the audit recorder
        return principal


V1Ctx = Annotated[Context, Depends(v1_context, scope="function")]  # committed before the answer
V2Ctx = Annotated[Context, Depends(v2_context, scope="function")]
V1Caller = Annotated[Principal, Depends(v1_caller)]
RT = Annotated[Runtime, Depends(_runtime)]

# --- bodies ------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_][\w\-]*)\s*:")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object sent, `{}` when none; tolerates the bare keys of CData's examples."""
    raw = (await request.body()).decode("utf-8-sig", errors="replace").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        relaxed = _TRAILING_COMMA.sub(r"\1", _BARE_KEY.sub(r'\1"\2":', raw))
        try:
            data = json.loads(relaxed)
        except json.JSONDecodeError:
            raise InvalidInput(
                f"the body is not JSON: {exc.msg} at position {exc.pos}", field="body"
            ) from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return data


JSONBody = Annotated[dict[str, Any], Depends(read_body)]


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


# --- workspaces and lists ----------------------------------------------------------------


def find_workspace(ctx: Context, key: str) -> str:
    """A visible workspace's id, by id or by name (`default` is the default workspace)."""
    try:
        return workspaces.get(ctx, key).id
    except ConveyorError:
        named = workspaces.list_(ctx, {"name": key, "limit": "1"}).rows
        if not named:
            raise
        return named[0].id


def requested_workspace(ctx: Context, request: Request, body: Fields | None = None) -> str | None:
    """The workspace a call names (`WorkspaceId` in the body, or `?workspaceId=`), if any."""
    value = body.get("WorkspaceId") if body is not None else None
    if value in (None, ""):
        value = next(
            (v for k, v in request.query_params.items() if canonical(k) == "workspaceid"), None
        )
    return None if value in (None, "") else find_workspace(ctx, to_text(value))


def drain(fetch: Callable[[Mapping[str, str]], Paged[T]], query: Mapping[str, str]) -> list[T]:
    """Every row a service's paged list returns for `query`, page after page."""
    rows: list[T] = []
    while True:
        page = fetch({**query, "limit": "1000", "offset": str(len(rows))})
        rows.extend(page.rows)
        if not page.rows or len(rows) >= page.total:
            return rows
