"""Signed HTTP events (Standard Webhooks): pre/post job hooks and notifications.

Every request carries `webhook-id`, `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) so a receiver can check it came from
Conveyor and was not replayed; failed deliveries are retried with backoff.

An event URL is chosen by a workspace's users, so delivery is held to the workspace's
`Reach`: before every attempt the host is resolved and checked, and the request goes to a
vetted address — the URL's host swapped for it, the `Host` header and TLS (SNI and
certificate verification) kept on the name. Redirects are never followed, proxies and
netrc from the environment never used. What comes back is kept small and reported by
status code: a receiver's text never reaches a run log or an error (see `cancel_request`
for the one exception, the documented cancel reason).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from conveyor.errors import ConfigurationError, ConnectorError, InvalidInput
from conveyor.policy import Reach

USER_AGENT = "Conveyor-Webhooks/1"
MAX_ANSWER_BYTES = 64 * 1024
"""What is read of an answer: enough for a pre-job event's JSON, not a memory hog."""
MAX_REASON_CHARS = 200


class EventFailed(ConnectorError):
    """The event could not be delivered."""


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: its status code and the first `MAX_ANSWER_BYTES` of its body."""

    status_code: int
    body: bytes


@dataclass(frozen=True)
class CancelRequest:
    """A pre-job event's answer asking to cancel the run, with the reason it may show."""

    reason: str | None


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
    *,
    reach: Reach,
) -> Answer:
    """POST an event, signed when a secret is set; retry on errors and 5xx answers.

    Each attempt resolves and checks the host again; a refusal (`HostRefused`) is raised
    at once, before any packet is sent. Failures name the host and what went wrong in
    words of our own (`EventFailed`), never the receiver's text.
    """
    try:
        target = _target(url)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    body = json.dumps(
        {"type": event, "timestamp": time.time(), "data": payload}, default=str
    ).encode()
    message_id = f"msg_{uuid.uuid4().hex}"
    failure = ""
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
            answer = _post(target, body, headers, timeout, reach)
        except _Unanswered as exc:
            failure = str(exc)
        else:
            if answer.status_code < 500:
                return answer
            failure = f"answered {answer.status_code}"
        if attempt + 1 < attempts:
            time.sleep(backoff * 2**attempt)
    host = target.raw_host.decode("ascii")
    raise EventFailed(f"the event receiver at {host} {failure} ({attempts} attempts)", host=host)


def check_url(url: str, reach: Reach) -> None:
    """Refuse, when an event URL is stored, what `deliver` would refuse by its name: 422
    for a URL that is not http(s)://host/…, `HostRefused` (403) for a host outside
    `reach`. The URL is read by the parser `deliver` uses; `deliver` checks again, on the
    address the host resolves to when the event fires."""
    try:
        target = _target(url)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="url") from exc
    reach.check_host(target.raw_host.decode("ascii"))


def _target(url: str) -> httpx.URL:
    """The event URL as httpx reads it; ValueError unless it is http(s)://host/…."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"the event URL is malformed: {exc}") from exc
    if target.scheme not in ("http", "https") or not target.raw_host:
        raise ValueError("an event URL must be http://host/… or https://host/…")
    return target


class _Unanswered(Exception):
    """An attempt that got no HTTP answer, described in our own words."""


def _post(
    target: httpx.URL, body: bytes, headers: dict[str, str], timeout: float, reach: Reach
) -> Answer:
    """One attempt: resolve and check the host now, then POST to its vetted addresses."""
    name = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    addresses = reach.addresses(name, port)  # HostRefused: nothing is sent
    sent = {**headers, "host": target.netloc.decode("ascii")}
    failure = "could not be connected to"
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout) as client:
        for address in addresses:
            try:
                with client.stream(
                    "POST",
                    target.copy_with(host=address),
                    content=body,
                    headers=sent,
                    extensions={"sni_hostname": name},
                ) as response:
                    return Answer(response.status_code, _first_bytes(response))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if _tls_failure(exc):
                    failure = "failed the TLS handshake (certificate or protocol)"
                continue  # the next address, as a client connecting by name would
            except httpx.TimeoutException as exc:
                raise _Unanswered("did not answer in time") from exc
            except (httpx.ProtocolError, httpx.DecodingError) as exc:
                raise _Unanswered("did not answer with HTTP") from exc
            except httpx.HTTPError as exc:
                raise _Unanswered(f"could not be reached ({type(exc).__name__})") from exc
    raise _Unanswered(failure)


def _tls_failure(error: BaseException) -> bool:
    """Whether a failed connection failed in its TLS handshake."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_bytes(response: httpx.Response) -> bytes:
    """Up to `MAX_ANSWER_BYTES` of the body; the rest is never read."""
    kept = bytearray()
    for chunk in response.iter_bytes():
        kept += chunk[: MAX_ANSWER_BYTES - len(kept)]
        if len(kept) >= MAX_ANSWER_BYTES:
            break
    return bytes(kept)


def cancel_request(answer: Answer) -> CancelRequest | None:
    """Whether a pre-job event's answer asks to cancel the run, and the reason it may show.

    The documented answer is `{"cancel": true, "reason": "…"}` with a 2xx status. The run
    log must never carry a receiver's text — an event URL may reach a service that was
    never meant to answer it — so a reason is shown only when the answer is exactly that
    shape: a JSON object with `cancel` and at most `reason` besides, the reason a
    single-line printable string of at most 200 characters. Any other answer with
    `"cancel": true` cancels without a reason.
    """
    if not 200 <= answer.status_code < 300:
        return None
    try:
        document = json.loads(answer.body)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("cancel") is not True:
        return None
    reason = document.get("reason")
    exact = set(document) <= {"cancel", "reason"}
    if (
        exact
        and isinstance(reason, str)
        and 0 < len(reason) <= MAX_REASON_CHARS
        and reason.isprintable()
    ):
        return CancelRequest(reason)
    return CancelRequest(None)
