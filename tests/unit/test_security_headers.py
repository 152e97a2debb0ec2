"""Protective headers and a quiet access log: what every answer carries, what no log keeps."""

from __future__ import annotations

import logging

import pytest

from conveyor.api.security_headers import secure
from conveyor.logging import PathOnly


def test_the_access_log_keeps_the_path_but_not_the_query() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/_connector?api_key=s3cret&x=1", "1.1", 200),
        None,
    )
    assert PathOnly().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /_connector HTTP/1.1" 200'


@pytest.mark.parametrize(
    ("content_type", "policy"),
    [
        (b"application/json", b"default-src 'none'; frame-ancestors 'none'"),
        (b"text/html; charset=utf-8", b"frame-ancestors 'none'"),
    ],
)
def test_protective_headers_are_added_but_never_replace_a_route_s_own(
    content_type: bytes, policy: bytes
) -> None:
    headers = dict(secure([(b"content-type", content_type)]))
    assert headers[b"content-security-policy"] == policy
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"x-frame-options"] == b"DENY"
    assert headers[b"referrer-policy"] == b"no-referrer"
    assert headers[b"cache-control"] == b"no-store"
    own = secure([(b"cache-control", b"max-age=60")])
    assert [value for name, value in own if name == b"cache-control"] == [b"max-age=60"]
