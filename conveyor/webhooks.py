"""Signed HTTP events (Standard Webhooks): pre/post job hooks and notifications.

Every request carries `webhook-id`, `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) so a receiver can check it came from
Conveyor and was not replayed; failed deliveries are retried with backoff.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx

USER_AGENT = "Conveyor-Webhooks/1"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header value for a body."""
    key = secret.removeprefix("whsec_").encode()
    if secret.startswith("whsec_"):  # Standard Webhooks secrets are base64 after the prefix
        with contextlib.suppress(ValueError):
            key = base64.b64decode(key, validate=True)
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300) -> bool:
    """Whether a received event is authentic (for receivers and tests)."""
    message_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "0")
    if abs(time.time() - int(stamp)) > tolerance:
        return False
    expected = sign(secret, message_id, int(stamp), body)
    return any(
        hmac.compare_digest(expected, candidate)
        for candidate in headers.get("webhook-signature", "").split()
    )


def deliver(
    url: str,
    event: str,
    payload: dict[str, Any],
    secret: str | None = None,
    timeout: float = 10.0,
    attempts: int = 3,
    backoff: float = 1.0,
) -> httpx.Response:
    """POST an event, signed when a secret is set; retry on errors and 5xx answers."""
    body = json.dumps(
        {"type": event, "timestamp": time.time(), "data": payload}, default=str
    ).encode()
    message_id = f"msg_{uuid.uuid4().hex}"
    last_error: Exception | None = None
    for attempt in range(attempts):
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
        }
        if secret:
            headers["webhook-signature"] = sign(secret, message_id, stamp, body)
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout)
            if response.status_code < 500:
                return response
            last_error = httpx.HTTPStatusError(
                f"{response.status_code}", request=response.request, response=response
            )
        except httpx.HTTPError as exc:
            last_error = exc
        if attempt + 1 < attempts:
            time.sleep(backoff * 2**attempt)
    assert last_error is not None
    raise last_error
