"""Signing in and out of the console.

The credentials are checked by the API's own `services.auth.authenticate` (as Basic
`user:password`, or as a Bearer token): the same users, passwords, tokens, sign-in
limits and audit trail as every other surface. The sign-in form, posted before there is a
session, carries a CSRF token derived from a pre-session cookie.
"""

from __future__ import annotations

import base64
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from conveyor.api.deps import SignInFailure, client_address
from conveyor.console.sessions import (
    COOKIE,
    CSRF_FIELD,
    PRE_COOKIE,
    clear_cookie,
    set_cookie,
)
from conveyor.console.web import CsrfRefused, Posted, read_form, redirect, render, sessions_of
from conveyor.errors import AuthenticationFailed, TooManySignIns
from conveyor.runtime import Runtime
from conveyor.services import users
from conveyor.services.auth import authenticate, touch_token
from conveyor.services.context import Principal

router = APIRouter(prefix="/ui")
PRE_SESSION_SECONDS = 3600


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if value and value.startswith("/ui/") and not value.startswith("//"):
        return value
    return "/ui/"


def _form(request: Request, nonce: str, status_code: int = 200, **values: object) -> HTMLResponse:
    csrf = sessions_of(request).csrf_token(nonce)
    response = render(
        request,
        "sign_in.html",
        status_code,
        principal=None,
        csrf=csrf,
        csrf_field=CSRF_FIELD,
        next=_safe_next(request.query_params.get("next")),
        **values,
    )
    set_cookie(request, response, PRE_COOKIE, nonce, PRE_SESSION_SECONDS)
    return response


@router.get("/sign-in", response_class=HTMLResponse, include_in_schema=False)
def sign_in_page(request: Request) -> HTMLResponse:
    """The sign-in form, with a fresh pre-session nonce for its CSRF token."""
    return _form(request, request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16))


def _headers(username: str, password: str, token: str) -> dict[str, str]:
    """The credentials as the API's authenticator reads them."""
    if token:
        return {"authorization": f"Bearer {token}"}
    basic = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"authorization": f"Basic {basic}"}


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    """Check the credentials; on success set the session cookie and go on."""
    form = await read_form(request)
    nonce = request.cookies.get(PRE_COOKIE)
    sessions = sessions_of(request)
    if not sessions.csrf_valid(nonce, form.get(CSRF_FIELD)):
        raise CsrfRefused()
    assert nonce is not None
    username = form.get("username", "").strip()
    password = form.get("password", "")
    token = form.get("token", "").strip()
    if not token and not (username and password):
        return _form(request, nonce, 400, error="Enter a user name and password, or a token.")
    runtime: Runtime = request.app.state.runtime
    client = client_address(request)

    def check() -> Principal:
        with runtime.unit(read_only=True) as ctx:
            return authenticate(
                ctx.session,
                _headers(username, password, token),
                client=client,
                limiter=runtime.sign_ins,
                # A read transaction: a token's last use is noted in one of its own.
                touch=lambda token_id: touch_token(runtime.factory, token_id),
            )

    try:
        principal = await run_in_threadpool(check)
    except (AuthenticationFailed, TooManySignIns) as exc:
        limited = isinstance(exc, TooManySignIns)
        request.state.sign_in_failure = SignInFailure(username or None, client, limited)
        message = (
            "Too many failed sign-ins: try again later."
            if limited
            else "The user name and password, or the token, are not valid."
        )
        return _form(request, nonce, exc.status_code, error=message, username=username)
    request.state.principal = principal

    def open_session() -> str:
        with runtime.unit(principal) as ctx:
            return users.issue_session(ctx, sessions.lifetime).token

    _, cookie = sessions.issue(await run_in_threadpool(open_session))
    response = redirect(_safe_next(form.get("next")))
    set_cookie(request, response, COOKIE, cookie, sessions.lifetime)
    clear_cookie(request, response, PRE_COOKIE)
    return response


@router.post("/sign-out", include_in_schema=False)
def sign_out(page: Posted) -> Response:
    """End the session: its token is revoked, and this browser forgets the cookie."""
    with page.unit() as ctx:
        users.revoke_own(ctx, page.session.token)
    response = redirect("/ui/sign-in")
    clear_cookie(page.request, response, COOKIE)
    return response
