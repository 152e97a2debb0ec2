"""Debian's chromium driven by Playwright, for the console's browser tests.

Never a downloaded browser (`playwright install` is not run): `/usr/bin/chromium`, which
`make test` and `.ci/run` install when it is missing. Without it the tests skip, except
in CI, where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Fail, never skip, without chromium: `make test` (and `.ci/run`) install it, and a
    skipped browser test would prove nothing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make chromium` installs it (apt-get install chromium)"
        )


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """A headless chromium for the module's tests."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
