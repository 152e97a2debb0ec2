"""One API process serving the application until SIGINT or SIGTERM, then ending with 0.

uvicorn, having shut down gracefully on a signal, raises that signal again so that its
process ends "killed by SIGINT/SIGTERM". For `conveyor serve` a stop it was asked for and
carried out is a success, as it is for `conveyor worker` and for the supervisor of several
API processes: a Ctrl-C under `make run` must not end in `make: *** … Interrupt`, and a
service manager must not log a clean stop as a failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE


class StoppedOnRequest(uvicorn.Server):
    """uvicorn's server, minus raising the stop signal again once it has shut down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's handlers while serving; the signals it caught are handled by then."""
        with super().capture_signals():
            try:
                yield
            finally:
                # Read by uvicorn right after this block, to raise each signal again.
                self._captured_signals.clear()


def serve_one(app: Any, *, host: str, port: int) -> None:
    """Serve `app` on one process until a stop signal; return once it has shut down."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        server_header=False,  # no `server: uvicorn` banner
    )
    server = StoppedOnRequest(config)
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)  # as `uvicorn.run` ends then
