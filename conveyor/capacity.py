"""How much work an API process takes on at once: excess requests queue, they do not fail.

A request's unit of work holds one store connection from its authentication until its
route returns, and in between it hops to worker threads and back. Left alone, every
request that arrives opens its unit, so a burst of clients holds more connections than
the pool has — they wait for one on worker threads the other requests need to finish,
and answer 500 when the pool gives up. So the units are admitted through a gate first:

- `Capacity` derives the worker threads and the store's pool from the requests admitted
  at once (`CONVEYOR_API_CONCURRENCY`), so that what is admitted never waits for a
  connection or a thread;
- `Admission` is the gate: an admitted request works, the others wait in line (first come,
  first served) on the event loop, where waiting costs no thread and no connection;
- only a request that waited `CONVEYOR_API_QUEUE_TIMEOUT` seconds without getting in —
  genuine overload — answers 503 with `Retry-After`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import anyio.to_thread

from conveyor.config import Settings
from conveyor.errors import TryLater

OTHER_THREADS = 24
"""Worker threads beyond the admitted units: routes managing their own transactions,
audit entries, streamed downloads."""
BACKGROUND_CONNECTIONS = 4
"""Store connections of the scheduler, the file cleaner and the embedded workers' loop."""


@dataclass(frozen=True)
class Capacity:
    """Requests admitted at once, worker threads and store connections, sized together."""

    requests: int
    threads: int
    pool_size: int
    max_overflow: int

    @classmethod
    def of(cls, settings: Settings) -> Capacity:
        requests = settings.api_concurrency
        threads = requests + OTHER_THREADS
        # Each admitted unit holds one connection, and may briefly open a second one (a
        # token's last use, an audit entry); every other thread holds at most one.
        pool_size = requests + settings.workers + BACKGROUND_CONNECTIONS
        return cls(requests, threads, pool_size, max_overflow=threads + requests)

    def apply_threads(self) -> None:
        """Size this event loop's default worker-thread pool (call from inside the loop)."""
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, self.threads)


class Overloaded(TryLater):
    """The server is overloaded: try again shortly."""

    status_code = 503

    def __init__(self, waited: float, retry_after: int = 1) -> None:
        super().__init__(
            f"the server has had more requests than it can work on for {waited:g} s; "
            f"try again in {retry_after} s",
            retry_after,
        )


class Admission:
    """The gate: at most `requests` units of work at once, the rest wait in line."""

    def __init__(self, requests: int, queue_timeout: float) -> None:
        self.requests = requests
        self.queue_timeout = queue_timeout
        self._slots: anyio.Semaphore | None = None

    @property
    def slots(self) -> anyio.Semaphore:
        if self._slots is None:  # made on first use: inside the serving event loop
            self._slots = anyio.Semaphore(self.requests)
        return self._slots

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Wait for a slot (503 after `queue_timeout`), hold it while the caller works."""
        slots = self.slots
        try:  # a free slot is taken at once, without a timer (one per request otherwise)
            slots.acquire_nowait()
        except anyio.WouldBlock:  # none free, or others in line first: wait in line
            with anyio.move_on_after(self.queue_timeout) as waiting:
                await slots.acquire()
            if waiting.cancelled_caught:
                raise Overloaded(self.queue_timeout) from None
        try:
            yield
        finally:
            slots.release()
