"""Wake-ups across processes: PostgreSQL LISTEN/NOTIFY on the queue's channel.

Enqueueing a run sends `NOTIFY conveyor_runs` in the same transaction, delivered at
commit; every worker process listening wakes its dispatcher at once instead of waiting
for its next poll. Polling remains the safety net if the listening connection drops.
"""

from __future__ import annotations

import logging
import threading

from conveyor.queue.manager import NOTIFY_CHANNEL, Wakeup

log = logging.getLogger(__name__)


def libpq_url(sqlalchemy_url: str) -> str:
    """The store's URL as psycopg takes it (no SQLAlchemy driver suffix)."""
    return "postgresql://" + sqlalchemy_url.split("://", 1)[1]


class Listener:
    """A thread that turns notifications on the queue channel into local wake-ups."""

    def __init__(self, url: str, wakeup: Wakeup, stopping: threading.Event) -> None:
        self.url = libpq_url(url)
        self.wakeup = wakeup
        self.stopping = stopping

    def start(self) -> threading.Thread:
        """Listen in a daemon thread until `stopping` is set."""
        thread = threading.Thread(target=self._run, name="conveyor-listen", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.wakeup.set()  # anything enqueued while we were not listening
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wakeup.set()
            except Exception as exc:
                log.warning("listening for new runs failed (%s); polling meanwhile", exc)
                self.stopping.wait(2.0)
