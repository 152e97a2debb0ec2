"""Driving the web console over HTTP as a browser would: its cookie, its forms' CSRF tokens."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx

from tests.e2e.server import Server

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def make_user(server: Server, role: str) -> str:
    """A new user with a password (through the API, as the admin); their name."""
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    response = server.client.post(
        "/api/v1/users", json={"name": name, "role": role, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return name


def browser(server: Server) -> httpx.Client:
    """A client with no credentials but its cookies, following no redirects."""
    return httpx.Client(base_url=server.url, timeout=60)


def sign_in(server: Server, name: str, password: str = PASSWORD) -> httpx.Client:
    """A browser signed in to the console."""
    client = browser(server)
    page = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={"csrf_token": csrf_of(page.text), "username": name, "password": password},
    )
    assert response.status_code == 303, response.text
    return client


def post_form(client: httpx.Client, page_path: str, action: str, **fields: Any) -> httpx.Response:
    """Open a page, then post one of its forms with the page's CSRF token."""
    page = client.get(page_path)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf_of(page.text), **fields})


def created_id(response: httpx.Response, prefix: str) -> str:
    """The id a form post redirected to (`/ui/<prefix>/<id>`)."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(prefix), location
    return location[len(prefix) :].split("?")[0]


def wait_final(client: httpx.Client, run_id: str, timeout: float = 60) -> str:
    """Poll a run's live part (as htmx does) until it no longer polls; its HTML."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = client.get(f"/ui/runs/{run_id}/live", headers={"HX-Request": "true"})
        assert live.status_code == 200, live.text
        if "hx-trigger" not in live.text:
            return live.text
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout}s")
