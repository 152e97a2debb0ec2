"""Screenshots of the console's main pages for the docs: `python -m
tests.e2e.console_screenshots docs/console` starts a real server, sets up a small job
through the API, runs it, and photographs each page at 1280 px (and the dashboard and the
runs list at phone width) with Debian's chromium."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.browser import ARGS, CHROMIUM
from tests.e2e.conftest import build_source
from tests.e2e.console_support import PASSWORD, make_user
from tests.e2e.server import running_server


def main(out: Path) -> None:
    """Write the screenshots into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, running_server(Path(scratch)) as server:
        source = build_source(Path(scratch) / "shop.db", 5_000)
        api = server.client
        src = api.post("/api/v1/connections", json={"name": "shop", "url": f"sqlite:///{source}"})
        lake = {"name": "lake", "url": f"duckdb:///{Path(scratch) / 'lake.duckdb'}"}
        dst = api.post("/api/v1/connections", json=lake).json()
        job = api.post(
            "/api/v1/jobs",
            json={
                "name": "shop to lake",
                "source_connection_id": src.json()["id"],
                "destination_connection_id": dst["id"],
                "schedule": {"enabled": True, "cron": "15 3 * * *"},
                "queries": [
                    "REPLICATE [items]",
                    "REPLICATE [cheap] SELECT * FROM items WHERE price < 10",
                ],
            },
        ).json()
        for _ in range(4):  # a few runs for the job page's charts
            run = api.post(
                f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "load": "full"}
            ).json()
        api.post(
            "/api/v1/transformations",
            json={
                "name": "cheap items count",
                "connection_id": dst["id"],
                "queries": [
                    "CREATE OR REPLACE TABLE cheap_count AS SELECT count(*) AS n FROM cheap",
                ],
                "trigger_mode": "after_job",
                "trigger_after_job_id": job["id"],
            },
        )
        name = make_user(server, "admin")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(base_url=server.url, viewport={"width": 1280, "height": 860})
            page.goto("/ui/sign-in")
            page.screenshot(path=out / "sign-in.png")
            page.get_by_label("Username").fill(name)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/ui/")
            page.screenshot(path=out / "dashboard.png", full_page=True)
            page.goto("/ui/connections")
            page.screenshot(path=out / "connections.png", full_page=True)
            page.goto(f"/ui/connections/{dst['id']}")
            page.get_by_role("button", name="Test").click()
            page.get_by_role("status").wait_for()
            page.screenshot(path=out / "connection.png", full_page=True)
            page.goto(f"/ui/jobs/{job['id']}")
            page.wait_for_function("() => window.htmx !== undefined")
            page.screenshot(path=out / "job-settings.png")  # the top of every setting
            page.get_by_label("Query", exact=True).fill("REPLICATE [items] SELECT id, name FROM")
            page.locator("#statement-check mark").wait_for()
            page.evaluate("document.getElementById('tasks-heading').scrollIntoView()")
            page.screenshot(path=out / "job.png")
            page.goto(f"/ui/runs/{run['id']}")
            page.screenshot(path=out / "run.png", full_page=True)
            page.goto("/ui/runs?status=completed")
            page.screenshot(path=out / "runs.png")
            page.goto("/ui/transformations")
            page.get_by_role("link", name="cheap items count").click()
            page.screenshot(path=out / "transformation.png", full_page=True)
            phone = browser.new_page(base_url=server.url, viewport={"width": 390, "height": 844})
            phone.context.add_cookies(page.context.cookies())
            phone.goto("/ui/")
            phone.screenshot(path=out / "dashboard-phone.png")
            phone.goto("/ui/runs")
            phone.screenshot(path=out / "runs-phone.png")
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console"))
