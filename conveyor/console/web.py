"""What every console page shares: the templates, the signed-in caller, posted forms.

A page route asks for `Signed` (the caller, from the session cookie; a browser without
one is sent to the sign-in page) or `Posted` (the same, plus the form it posted, refused
with 403 unless it carries the session's CSRF token). It then calls the same services the
native API calls, in a unit of work as that caller, and renders a template: the console
decides nothing itself, so a viewer's Run is refused by `runs.execute` whatever the page
showed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from conveyor.console.sessions import COOKIE, CSRF_FIELD, WORKSPACE_COOKIE, Session, Sessions
from conveyor.domain import Role
from conveyor.errors import ConveyorError
from conveyor.runtime import Runtime
from conveyor.services import outside, workspaces
from conveyor.services.auth import token_holder, touch_token
from conveyor.services.context import Context, Principal

TEMPLATES = Path(__file__).parent / "templates"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The console's pages load only their own script and stylesheet and post only to
themselves: an injected script or form could do nothing (the templates escape too)."""
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: dt.datetime | None) -> str:
    """A time as the console shows it: UTC, to the second."""
    if value is None:
        return "–"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


templates.filters["when"] = when


class SignInRequired(Exception):
    """The browser has no valid session: it is sent to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfRefused(Exception):
    """A form post without the session's CSRF token: refused with 403."""


def sessions_of(request: Request) -> Sessions:
    """The app's session signer (set by `conveyor.console.install`)."""
    value: Sessions = request.app.state.console_sessions
    return value


@dataclass
class Page:
    """One console request: its runtime, caller, session and (for posts) its form."""

    request: Request
    runtime: Runtime
    principal: Principal
    session: Session
    workspaces: list[tuple[str, str]] = field(default_factory=list)
    """The workspaces the caller sees, for the header's switcher (read with the caller)."""
    form: dict[str, str] = field(default_factory=dict)

    @property
    def workspace(self) -> str | None:
        """The workspace the browser chose to see (the switcher's cookie), or None: all
        the caller may see. One they may not see is ignored (the services hide it)."""
        chosen = self.request.cookies.get(WORKSPACE_COOKIE) or None
        return chosen if chosen is None or self.principal.sees(chosen) else None

    def scoped(self, query: dict[str, str]) -> dict[str, str]:
        """A list query, narrowed to the chosen workspace when there is one."""
        return query if self.workspace is None else {**query, "workspace_id": self.workspace}

    @property
    def can_write(self) -> bool:
        """Whether to show Save, Run now, Cancel (the services decide anyway)."""
        return self.principal.role is not Role.viewer

    @property
    def csrf(self) -> str:
        """The CSRF token every form of this page carries."""
        return sessions_of(self.request).csrf_token(self.session.nonce)

    @contextmanager
    def unit(self, *, read_only: bool = False) -> Iterator[Context]:
        """A service context as the caller, committed when the block ends without error."""
        with self.runtime.unit(self.principal, read_only=read_only) as ctx:
            yield ctx

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        """The template, with the caller, the CSRF token and the write permission."""
        return render(
            self.request,
            template,
            status_code,
            workspaces=self.workspaces,
            workspace=self.workspace,
            principal=self.principal,
            csrf=self.csrf,
            csrf_field=CSRF_FIELD,
            can_write=self.can_write,
            **values,
        )

    def fail(self, exc: ConveyorError) -> HTMLResponse:
        """A service's refusal as a page with its status code (403, 404, 409, 422…)."""
        return self.render("error.html", status_code=exc.status_code, error=exc)

    def shown(self, build: Callable[[], HTMLResponse]) -> HTMLResponse:
        """The page `build` renders, or the service's refusal (a job, run or user that is
        not there or not the caller's) as the error page."""
        try:
            return build()
        except ConveyorError as exc:
            return self.fail(exc)

    def act(
        self,
        action: Callable[[Context], str],
        refused: Callable[[ConveyorError], Response] | None = None,
    ) -> Response:
        """A button's action, run as the caller in one unit of work, then a redirect to the
        page `action` names (post/redirect/get); a refusal is shown by `refused`, by
        default as the error page."""
        try:
            url = outside.run(self.unit, action)
        except ConveyorError as exc:
            return self.fail(exc) if refused is None else refused(exc)
        return redirect(url)

    def is_htmx(self) -> bool:
        """Whether htmx asked (then a fragment answers, not a whole page)."""
        return self.request.headers.get("hx-request") == "true"


PAGE_SIZE = 100


@dataclass(frozen=True)
class Pager:
    """Which slice of a long list a page shows, and the links to its neighbours: a page
    of 1,000 jobs or 100,000 runs at once would neither answer fast nor read well."""

    offset: int
    total: int
    path: str
    query: dict[str, str]
    size: int = PAGE_SIZE

    @classmethod
    def of(cls, request: Request, total: int = 0) -> Pager:
        """The request's `?offset=` (a multiple of the page size; 0 when absent or bad)."""
        raw = request.query_params.get("offset", "0")
        offset = int(raw) if raw.isdigit() else 0
        query = {k: v for k, v in request.query_params.items() if k != "offset"}
        return cls(offset - offset % PAGE_SIZE, total, request.url.path, query)

    def counted(self, total: int) -> Pager:
        """The same page, knowing how many items there are in all."""
        return Pager(self.offset, total, self.path, self.query, self.size)

    @property
    def params(self) -> dict[str, str]:
        """The list service's paging parameters."""
        return {"limit": str(self.size), "offset": str(self.offset)}

    def link(self, offset: int) -> str:
        """The URL of the page starting at `offset`."""
        return f"{self.path}?{urlencode({**self.query, 'offset': str(offset)})}"

    @property
    def previous(self) -> str | None:
        """The previous page's URL, if there is one."""
        return self.link(max(self.offset - self.size, 0)) if self.offset > 0 else None

    @property
    def next(self) -> str | None:
        """The next page's URL, if there is one."""
        return self.link(self.offset + self.size) if self.offset + self.size < self.total else None


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Render a template as an HTML response."""
    html = templates.get_template(template).render(request=request, **values)
    return HTMLResponse(html, status_code=status_code, headers={"Content-Security-Policy": CSP})


def redirect(url: str) -> RedirectResponse:
    """After a post: see the result with a GET (303)."""
    return RedirectResponse(url, status_code=303)


def load_principal(runtime: Runtime, token: str) -> tuple[Principal, list[tuple[str, str]]] | None:
    """The holder of the session token as they are now, with the workspaces they see (one
    read transaction for both); None once it expired, was revoked (signed out) or its user
    was deleted or deactivated."""
    with runtime.unit(read_only=True) as ctx:
        principal = token_holder(
            ctx.session, token, touch=lambda token_id: touch_token(runtime.factory, token_id)
        )
        if principal is None:
            return None
        as_caller = runtime.context(ctx.session, principal)
        found = workspaces.list_(as_caller, {"sort": "name", "limit": "1000"})
        return principal, [(row.id, row.name) for row in found.rows]


def signed_page(request: Request) -> Page:
    """The signed-in caller's page, or `SignInRequired` (a plain def: it reads the store
    on a worker thread)."""
    runtime: Runtime = request.app.state.runtime
    session = sessions_of(request).read(request.cookies.get(COOKIE))
    loaded = load_principal(runtime, session.token) if session is not None else None
    if session is None or loaded is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    principal, seen = loaded
    request.state.principal = principal  # for the audit log
    return Page(request, runtime, principal, session, seen)


Signed = Annotated[Page, Depends(signed_page)]


async def read_form(request: Request) -> dict[str, str]:
    """The posted form's fields (URL-encoded; the last value of a repeated name wins)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != FORM_TYPES[0]:
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


async def posted_page(request: Request, page: Signed) -> Page:
    """A signed-in caller's form post, refused (403) without the session's CSRF token."""
    form = await read_form(request)
    token = form.pop(CSRF_FIELD, None) or request.headers.get("x-csrf-token")
    if not sessions_of(request).csrf_valid(page.session.nonce, token):
        raise CsrfRefused()
    page.form = form
    return page


Posted = Annotated[Page, Depends(posted_page)]


def field_values(form: Mapping[str, str], *names: str) -> dict[str, str]:
    """The named fields of a form, stripped, absent ones as empty strings."""
    return {name: form.get(name, "").strip() for name in names}


def install_handlers(app: FastAPI) -> None:
    """Answer `SignInRequired` with the sign-in page and `CsrfRefused` with 403."""

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        url = f"/ui/sign-in?next={quote(exc.next_url, safe='')}"
        if request.headers.get("hx-request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "refused.html",
            status_code=403,
            principal=None,
            reason="The form was posted without its CSRF token (or with another "
            "session's): reload the page and try again.",
        )

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
