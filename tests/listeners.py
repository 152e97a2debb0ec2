"""TCP listeners on 127.0.0.1 for tests of what connects where.

`AcceptCounter` records the connections it accepts: for tests that a refused destination
is refused before any connection attempt — point the refused URL at the listener's port
and check that it accepted nothing. `Silent` never answers: for tests that nothing else
waits while something waits on a peer.
"""

from __future__ import annotations

import abc
import select
import socket
import threading
from types import TracebackType
from typing import Self


class Closing(abc.ABC):
    """A listener used as a context manager: `close` when the block ends."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop listening."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AcceptCounter(Closing):
    """Listens on 127.0.0.1, accepts and closes every connection, and counts them."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.accepted = 0
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        """Stop listening, counting the connections still waiting in the backlog too."""
        self._stop.set()
        self._thread.join()
        self._sock.setblocking(False)
        while True:
            try:
                conn, _ = self._sock.accept()
            except BlockingIOError:
                break
            self.accepted += 1
            conn.close()
        self._sock.close()


class Silent(Closing):
    """Listens on 127.0.0.1 and never accepts nor answers: a client's TCP handshake
    completes (the kernel's backlog), then whatever it sends waits for an answer that
    never comes — until its own timeout, or until `close`, which resets the connections
    waiting in the backlog so that the client fails at once."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port: int = self._sock.getsockname()[1]

    def wait_for_client(self, timeout: float = 30) -> bool:
        """Whether a client has connected (and waits) — by then it is blocked on us."""
        readable, _, _ = select.select([self._sock], [], [], timeout)
        return bool(readable)

    def close(self) -> None:
        """Stop listening; clients waiting in the backlog are reset."""
        self._sock.close()
