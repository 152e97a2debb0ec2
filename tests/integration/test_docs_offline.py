"""`/docs` and `/redoc` work with no network: every asset they load is served by Conveyor."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

ASSET = re.compile(
    r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'|Redoc\.init\(\s*["']([^"']+)"""
)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client: TestClient, page: str) -> None:
    answer = client.get(page, headers={"Authorization": ""})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "http://" not in html and "https://" not in html  # no CDN, no web fonts
    found = [next(g for g in match if g) for match in ASSET.findall(html)]
    assert any(url.endswith(".js") for url in found), found
    for url in found:
        assert url.startswith("/"), url
        served = client.get(url, headers={"Authorization": ""})
        assert served.status_code == 200, url
        assert served.content, url
