"""The README examples' harness: a missing curl is a skip locally and a failure in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.readme import needs_curl


@needs_curl
def uses_curl() -> str:
    return "ran"


@pytest.fixture
def no_curl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no curl on PATH


def test_a_missing_curl_fails_under_ci(no_curl: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="curl"):
        uses_curl()


def test_a_missing_curl_skips_locally(no_curl: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="curl"):
        uses_curl()


def test_with_curl_the_test_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert uses_curl() == "ran"
