"""One sizing of the API process: requests admitted at once, worker threads, store connections.

They are sized together so that excess requests queue instead of failing: an admitted
request (see `api.admission`) never waits for a worker thread or a store connection, and
no thread waits for a connection held by a request that waits for a thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio.to_thread

from conveyor.config import Settings

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
