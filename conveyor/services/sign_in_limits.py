"""Failed sign-ins counted per client address and per user name, so that guessing is slow.

Two counters, because guessing comes in two shapes: one address trying many names
(spraying a common password) and many addresses trying one name (a botnet on one
account). Either counter over its limit refuses the next password attempt with 429
before any scrypt work, so a limited attempt costs the server almost nothing and its
answer says nothing about the password.

The counting is `limits`' moving window in memory: exact (no burst at a window edge),
and an attempt refused while limited is not counted, so a client that keeps trying is
let in again once its oldest failure leaves the window. Memory storage means each API
process counts on its own: behind a load balancer with n nodes, an attacker gets up to
n times the limit. The addresses are those uvicorn reports, so behind a reverse proxy
the proxy must be trusted (uvicorn's `FORWARDED_ALLOW_IPS`) for clients to be told
apart.

Checks of one name or one address are serialized (`checking`): without that, a burst
of concurrent attempts would all pass the limit test before the first failure is
counted, and the limit would be as wide as the thread pool.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import zlib
from collections.abc import Iterator

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

WINDOW_SECONDS = 60
STRIPES = 64
ADDRESS_FACTOR = 5
"""An address may fail this many times the per-name limit: one account under attack (its
name limited after N failures) does not lock out everyone else signing in from the same
address — an office behind one NAT — while spraying many names from it is still cut off."""


class SignInLimiter:
    """Counts failed sign-ins and says how long a limited client or name must wait."""

    def __init__(self, failures: int, window_seconds: int = WINDOW_SECONDS) -> None:
        self._items = {
            "user": RateLimitItemPerSecond(failures, window_seconds, namespace="sign-in"),
            "address": RateLimitItemPerSecond(
                failures * ADDRESS_FACTOR, window_seconds, namespace="sign-in"
            ),
        }
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        # Striped locks: bounded memory whatever the number of names and addresses seen.
        self._stripes = [threading.Lock() for _ in range(STRIPES)]

    @staticmethod
    def _keys(client: str, user_name: str | None) -> list[tuple[str, str]]:
        keys = [("address", client)]
        if user_name is not None:
            keys.append(("user", user_name))
        return keys

    def retry_after(self, client: str, user_name: str | None = None) -> int | None:
        """Seconds until the address (and the name, if given) may try again; None: now."""
        waits = []
        for key in self._keys(client, user_name):
            item = self._items[key[0]]
            if not self._limiter.test(item, *key):
                stats = self._limiter.get_window_stats(item, *key)
                waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return max(waits) if waits else None

    def failed(self, client: str, user_name: str | None = None) -> None:
        """Count a failed sign-in from the address (and for the name, if given)."""
        for key in self._keys(client, user_name):
            self._limiter.hit(self._items[key[0]], *key)

    @contextlib.contextmanager
    def checking(self, client: str, user_name: str | None) -> Iterator[None]:
        """Hold while testing the limits, checking a password and counting its failure."""
        indexes = sorted(
            {
                zlib.crc32(f"{kind}\0{value}".encode()) % STRIPES
                for kind, value in self._keys(client, user_name)
            }
        )
        with contextlib.ExitStack() as held:
            for index in indexes:  # always in the same order: no deadlock
                held.enter_context(self._stripes[index])
            yield
