"""What the worker pool needs from outside the queue, declared as one protocol.

The queue knows runs as rows it claims, beats and finishes. What a claimed run executes
(its job, tasks and connections, secrets decrypted) and what follows its end (triggered
transformations, events, e-mails) belong to the services, which the queue must not
import. The worker reaches them through `RunHooks` only; the composition root
(`conveyor.runtime.Runtime`) implements it over the services, and a test can hand the
pool any object with these two methods.
"""

from __future__ import annotations

from typing import Protocol

from conveyor.domain import RunStatus
from conveyor.engine.spec import RunSpec
from conveyor.queue.manager import ClaimedRun


class RunHooks(Protocol):
    """The services a worker calls around each run it executes."""

    def build_spec(self, claimed: ClaimedRun) -> RunSpec:
        """What the claimed run executes, read in a short transaction of its own.

        Raises a `ConveyorError` when the run cannot be built (its job is gone, a
        connection cannot be decrypted): the run then ends in error, retried as the
        error's class says.
        """
        ...

    def after_run(self, run_id: str, status: RunStatus) -> None:
        """Queue and deliver what follows a run that reached a final status (called after
        its worker slot is free; a failure here is logged, never fails the run)."""
        ...
