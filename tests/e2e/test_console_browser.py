"""The web console in a real browser (Debian's chromium through Playwright): signing in,
setting up connections and a job through the forms, a statement refused at its
position, a run followed to completion without a reload, and a viewer who cannot run."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import chromium
from tests.e2e.console_support import PASSWORD, make_user
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e
__all__ = ["chromium"]  # the fixture, used by name

TIMEOUT = 60_000  # milliseconds: how long a run may take on a loaded machine


def signed_in(chromium: Any, server: Server, name: str) -> Any:
    """A new page of a fresh browser context, signed in as `name`."""
    from playwright.sync_api import expect

    context = chromium.new_context(base_url=server.url)
    page = context.new_page()
    page.on("console", lambda message: _errors(page).append(message.text))
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=TIMEOUT)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=TIMEOUT)
    return page


def htmx_ready(page: Any) -> None:
    """Wait until htmx has wired the page's elements: a field filled before that (the
    heading shows before the deferred script has run on a loaded machine) sends no
    request, as a person typing that early would see no check either."""
    page.wait_for_load_state("load")
    page.wait_for_function("() => window.htmx !== undefined")


def _errors(page: Any) -> list[str]:
    """The page's console messages (a CSP the console broke would show there)."""
    if not hasattr(page, "console_messages_seen"):
        page.console_messages_seen = []
    seen: list[str] = page.console_messages_seen
    return seen


def new_connection(page: Any, name: str, url: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("navigation").get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="New connection").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("URL", exact=True).fill(url)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=f"Connection {name}")).to_be_visible(timeout=TIMEOUT)


def test_set_up_and_run_a_job_in_the_browser(
    chromium: Any, shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    suffix = uuid.uuid4().hex[:6]
    page = signed_in(chromium, shared_server, make_user(shared_server, "admin"))
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["conveyor_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["expires"] > 0  # not a browser-session cookie: it expires by itself

    new_connection(page, f"src-{suffix}", f"sqlite:///{shared_source}")
    htmx_ready(page)
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_role("status")).to_contain_text("Reached", timeout=TIMEOUT)
    new_connection(page, f"dst-{suffix}", f"duckdb:///{tmp_path / 'lake.duckdb'}")

    page.get_by_role("navigation").get_by_role("link", name="Jobs").click()
    page.get_by_role("link", name="New job").click()
    page.get_by_label("Name", exact=True).fill(f"job-{suffix}")
    page.get_by_label("Source", exact=True).select_option(label=f"src-{suffix}")
    page.get_by_label("Destination", exact=True).select_option(label=f"dst-{suffix}")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=f"Job job-{suffix}")).to_be_visible(timeout=TIMEOUT)
    htmx_ready(page)

    query = page.get_by_label("Query", exact=True)
    query.fill("REPLICATE [items] SELECT id FROM")
    problem = page.locator("#statement-check")
    # checked as typed, before saving
    expect(problem).to_contain_text("at position", timeout=TIMEOUT)
    expect(problem.locator("mark")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("alert").first).to_contain_text("at position", timeout=TIMEOUT)
    expect(page.get_by_text("No tasks yet.")).to_be_visible(timeout=TIMEOUT)

    page.get_by_label("Query", exact=True).fill("REPLICATE [items]")
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("heading", name="Tasks (1)")).to_be_visible(timeout=TIMEOUT)

    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("heading", name=f"of job-{suffix}")).to_be_visible(timeout=TIMEOUT)
    htmx_ready(page)
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#run-status")).to_have_text("completed", timeout=TIMEOUT)
    assert page.evaluate("window.__sameDocument") is True  # no reload: htmx swapped it in
    expect(page.get_by_label("Log")).to_contain_text("completed", timeout=TIMEOUT)
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", "every 1s")
    assert not [m for m in _errors(page) if "Content Security Policy" in m], _errors(page)
    page.context.close()


def test_a_pipeline_run_followed_in_the_browser(
    chromium: Any, shared_server: Server, shared_source: Path
) -> None:
    from playwright.sync_api import expect

    suffix = uuid.uuid4().hex[:6]
    api = shared_server.client
    src = api.post(
        "/api/v1/connections", json={"name": f"bsrc-{suffix}", "url": f"sqlite:///{shared_source}"}
    ).json()
    job = api.post(
        "/api/v1/jobs",
        json={
            "name": f"bjob-{suffix}",
            "source_connection_id": src["id"],
            "export_format": "csv",
            "queries": ["REPLICATE [items]"],
        },
    ).json()
    api.post(
        "/api/v1/pipelines", json={"name": f"bpipe-{suffix}", "steps": [{"job_id": job["id"]}]}
    )
    page = signed_in(chromium, shared_server, make_user(shared_server, "standard"))
    page.get_by_role("navigation").get_by_role("link", name="Pipelines").click()
    page.get_by_role("link", name=f"bpipe-{suffix}").click()
    expect(page.get_by_role("heading", name=f"Pipeline bpipe-{suffix}")).to_be_visible(
        timeout=TIMEOUT
    )
    expect(page.get_by_label("Step 1")).to_have_value(f"bjob-{suffix}")
    page.get_by_role("button", name="Run now").click()
    htmx_ready(page)
    page.evaluate("window.__sameDocument = true")
    latest = page.locator("#pipeline-runs tbody tr").first
    expect(latest.locator("td").nth(1)).to_have_text("completed", timeout=TIMEOUT)
    assert page.evaluate("window.__sameDocument") is True  # no reload: htmx swapped it in
    expect(page.locator("#pipeline-runs")).not_to_have_attribute("hx-trigger", "every 1s")
    latest.get_by_role("link", name=f"bjob-{suffix}").click()
    expect(page.get_by_role("heading", name=f"of bjob-{suffix}")).to_be_visible(timeout=TIMEOUT)
    assert not [m for m in _errors(page) if "Content Security Policy" in m], _errors(page)
    page.context.close()


def test_a_viewer_cannot_run_in_the_browser(
    chromium: Any, shared_server: Server, shared_source: Path
) -> None:
    from playwright.sync_api import expect

    suffix = uuid.uuid4().hex[:6]
    api = shared_server.client
    src = api.post(
        "/api/v1/connections", json={"name": f"vsrc-{suffix}", "url": f"sqlite:///{shared_source}"}
    ).json()
    job = api.post(
        "/api/v1/jobs",
        json={
            "name": f"vjob-{suffix}",
            "source_connection_id": src["id"],
            "export_format": "csv",
            "queries": ["REPLICATE [items]"],
        },
    ).json()
    page = signed_in(chromium, shared_server, make_user(shared_server, "viewer"))
    page.goto(f"/ui/jobs/{job['id']}")
    expect(page.get_by_role("heading", name=f"Job vjob-{suffix}")).to_be_visible(timeout=TIMEOUT)
    for name in ("Run now", "Save", "Add task", "Cancel"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    # Forcing the post the page does not offer: the server refuses it all the same.
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    response = page.request.post(f"/ui/jobs/{job['id']}/run", form={"csrf_token": token})
    assert response.status == 403
    assert api.get("/api/v1/runs", params={"job_id": job["id"]}).json()["total"] == 0
    page.context.close()


def test_download_an_export_file_in_the_browser(
    chromium: Any, shared_server: Server, shared_source: Path
) -> None:
    from playwright.sync_api import expect

    suffix = uuid.uuid4().hex[:6]
    api = shared_server.client
    src = api.post(
        "/api/v1/connections", json={"name": f"esrc-{suffix}", "url": f"sqlite:///{shared_source}"}
    ).json()
    job = api.post(
        "/api/v1/jobs",
        json={
            "name": f"ejob-{suffix}",
            "source_connection_id": src["id"],
            "export_format": "csv",
            "queries": ["REPLICATE [items]"],
        },
    ).json()
    page = signed_in(chromium, shared_server, make_user(shared_server, "standard"))
    page.goto(f"/ui/jobs/{job['id']}")
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#run-status")).to_be_visible(timeout=TIMEOUT)
    htmx_ready(page)
    expect(page.locator("#run-status")).to_have_text("completed", timeout=TIMEOUT)
    with page.expect_download(timeout=TIMEOUT) as waiting:
        page.get_by_role("link", name="items.csv").click()
    download = waiting.value
    assert download.suggested_filename == "items.csv"
    lines = Path(download.path()).read_text().splitlines()
    assert lines[0].startswith('"id","name"')
    assert len(lines) == 2001
    page.context.close()


def test_sign_in_and_the_nav_by_keyboard_alone(chromium: Any, shared_server: Server) -> None:
    from playwright.sync_api import expect

    name = make_user(shared_server, "standard")
    context = chromium.new_context(base_url=shared_server.url)
    page = context.new_page()
    page.goto("/ui/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=TIMEOUT)
    focused = (
        "() => document.activeElement && (document.activeElement.labels?.[0]?.textContent"
        " || document.activeElement.textContent || '').trim()"
    )
    reached = _tab_to(page, focused, "Username")
    assert reached, "Tab never reached the Username field"
    page.keyboard.type(name)
    assert _tab_to(page, focused, "Password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")  # Enter submits the form
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=TIMEOUT)
    for link in ("Connections", "Jobs", "Runs", "Transformations", "Pipelines"):
        assert _tab_to(page, focused, link), f"Tab never reached the {link} link"
    page.keyboard.press("Enter")  # on the last one reached: follows it
    expect(page.get_by_role("heading", name="Pipelines (")).to_be_visible(timeout=TIMEOUT)
    context.close()


def _tab_to(page: Any, focused: str, name: str, presses: int = 40) -> bool:
    """Press Tab until the focused element's label or text is `name`; whether it was."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == name:
            return True
    return False


PAGES = (
    "/ui/",
    "/ui/connections",
    "/ui/jobs",
    "/ui/runs",
    "/ui/transformations",
    "/ui/pipelines",
    "/ui/users",
)


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 800)])
def test_the_main_pages_fit_a_phone_and_a_desktop(
    chromium: Any, shared_server: Server, shared_source: Path, width: int, height: int
) -> None:
    from playwright.sync_api import expect

    suffix = uuid.uuid4().hex[:6]
    api = shared_server.client
    src = api.post(
        "/api/v1/connections",
        json={"name": f"wsrc-{suffix}-" + "long" * 10, "url": f"sqlite:///{shared_source}"},
    ).json()
    job = api.post(
        "/api/v1/jobs",
        json={
            "name": f"wjob-{suffix}",
            "source_connection_id": src["id"],
            "export_format": "csv",
            "queries": ["REPLICATE [items] SELECT id, name, price, created_at FROM [items]"],
        },
    ).json()
    api.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 60})
    pipeline = api.post(
        "/api/v1/pipelines",
        json={"name": f"wpipe-{suffix}-" + "long" * 10, "steps": [{"job_id": job["id"]}]},
    ).json()
    page = signed_in(chromium, shared_server, make_user(shared_server, "admin"))
    page.set_viewport_size({"width": width, "height": height})
    pages = (
        *PAGES,
        f"/ui/jobs/{job['id']}",
        "/ui/jobs/new",
        "/ui/transformations/new",
        f"/ui/pipelines/{pipeline['id']}",
        "/ui/pipelines/new",
    )
    for path in pages:
        page.goto(path)
        htmx_ready(page)
        fits = page.evaluate(
            "() => document.documentElement.scrollWidth <= window.innerWidth"
            " && document.body.scrollWidth <= window.innerWidth"
        )
        assert fits, (path, width, page.evaluate("document.documentElement.scrollWidth"))
        nav = page.get_by_role("navigation", name="Main")
        for link in ("Connections", "Jobs", "Runs", "Pipelines"):
            expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    # The main tables are usable: visible, and a row's link can be followed.
    page.goto("/ui/jobs")
    expect(page.get_by_role("table")).to_be_visible(timeout=TIMEOUT)
    page.goto("/ui/runs?job=" + job["id"])
    row_link = page.get_by_role("table").get_by_role("link").first
    expect(row_link).to_be_visible(timeout=TIMEOUT)
    row_link.click()
    expect(page.get_by_role("heading", name=f"of wjob-{suffix}")).to_be_visible(timeout=TIMEOUT)
    page.context.close()


def test_a_form_posted_without_its_csrf_token_is_refused_in_the_browser(
    chromium: Any, shared_server: Server
) -> None:
    suffix = uuid.uuid4().hex[:6]
    page = signed_in(chromium, shared_server, make_user(shared_server, "admin"))
    # The session cookie goes with it (the browser's own context), the token does not.
    refused = page.request.post(
        "/ui/connections/new", form={"name": f"forged-{suffix}", "url": "sqlite:///x.db"}
    )
    assert refused.status == 403
    assert "CSRF" in refused.text()
    listed = shared_server.client.get("/api/v1/connections", params={"name": f"forged-{suffix}"})
    assert listed.json()["total"] == 0
    page.context.close()
