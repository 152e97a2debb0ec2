"""The composition root: settings, store, secrets, queue and workers wired together once.

The API, the CLI and the tests all build one `Runtime` and ask it for units of work,
service contexts and a worker pool, so there is exactly one place where the parts meet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from conveyor.capacity import Capacity
from conveyor.config import Settings
from conveyor.crypto import SecretBox, load_or_create_key
from conveyor.domain import RunStatus
from conveyor.engine.spec import RunSpec
from conveyor.queue.manager import ClaimedRun, QueueManager
from conveyor.queue.worker import WorkerPool
from conveyor.scheduler.cron import Scheduler
from conveyor.services import automation, pipeline_runs, run_specs
from conveyor.services.bootstrap import ensure_defaults
from conveyor.services.connection_secrets import seal_stored_url_secrets
from conveyor.services.context import SYSTEM, Context, Principal
from conveyor.services.sign_in_limits import SignInLimiter
from conveyor.store import migrate, statistics
from conveyor.store.data_version import DataVersion
from conveyor.store.models import Run
from conveyor.store.session import make_engine, make_session_factory, unit_of_work


@dataclass
class Runtime:
    """One process's wiring of Conveyor's parts."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    box: SecretBox
    queue: QueueManager
    sign_ins: SignInLimiter = field(init=False)
    """This process's count of failed sign-ins (per process: each API node limits alone)."""
    _data_version: DataVersion | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.sign_ins = SignInLimiter(self.settings.auth_failures_per_minute)
        self.queue.on_final = self.run_ended

    def run_ended(self, session: Session, run: Run) -> None:
        """What follows a run's final status in the transaction that recorded it: a
        pipeline whose step it was goes on (the queue's `on_final`)."""
        if run.pipeline_run_id is not None:
            pipeline_runs.step_ended(self.context(session), run)

    def data_version(self) -> DataVersion:
        """This process's reader of the store's data version (one connection, opened on
        first read, closed with the runtime)."""
        if self._data_version is None:
            self._data_version = DataVersion(self.engine)
        return self._data_version

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Connect to the store and load the secret key (nothing is started)."""
        capacity = Capacity.of(settings)
        engine = make_engine(
            settings.metadata_url,
            pool_size=capacity.pool_size,
            max_overflow=capacity.max_overflow,
        )
        factory = make_session_factory(engine, write_budget=settings.write_transaction_budget)
        box = SecretBox(load_or_create_key(settings.data_dir, settings.secret_key))
        return cls(settings, engine, factory, box, QueueManager(factory, settings.retry_backoff))

    @property
    def embedded(self) -> bool:
        """Whether the store is the embedded SQLite file (one process owns the workers)."""
        return self.engine.dialect.name == "sqlite"

    def context(self, session: Session, principal: Principal = SYSTEM) -> Context:
        """A service context on a session."""
        return Context(session, principal, self.settings, self.box, self.queue)

    @contextlib.contextmanager
    def unit(self, principal: Principal = SYSTEM, *, read_only: bool = False) -> Iterator[Context]:
        """A service context in its own transaction (a read transaction with `read_only`)."""
        with unit_of_work(self.factory, read_only=read_only) as session:
            yield self.context(session, principal)

    def migrate(self) -> None:
        """Bring the store's schema up to date, and the planner's statistics with it."""
        migrate.upgrade(self.engine)
        statistics.refresh(self.engine)

    def bootstrap(self) -> str | None:
        """Default workspace and first admin; returns a newly generated admin token once.
        URL secrets stored in clear by earlier versions are sealed."""
        with self.unit() as ctx:
            token = ensure_defaults(ctx)
            seal_stored_url_secrets(ctx)
            return token

    def worker_pool(self) -> WorkerPool:
        """A worker pool executing this store's queue; finished runs get their follow-ups.
        The runtime is the pool's `RunHooks`: the services it calls around each run."""
        return WorkerPool(self.settings, self.queue, hooks=self)

    def build_spec(self, claimed: ClaimedRun) -> RunSpec:
        """What a claimed run executes, read in a read transaction of its own (`RunHooks`)."""
        with self.unit(read_only=True) as ctx:
            return run_specs.build_spec(ctx, claimed)

    def after_run(self, run_id: str, status: RunStatus) -> None:
        """Queue what follows a finished run, then deliver its events (after commit)
        (`RunHooks`)."""
        with unit_of_work(self.factory) as session:
            deliveries = automation.after_run(self.context, session, run_id, status)
        for deliver in deliveries:
            deliver()

    def scheduler(self) -> Scheduler:
        """A scheduler turning this store's cron schedules into runs."""
        return Scheduler(
            self.factory,
            lambda session, kind, target_id, fire_at: automation.enqueue_scheduled(
                self.context, session, kind, target_id, fire_at
            ),
            interval=self.settings.schedule_interval,
            catch_up=self.settings.schedule_catch_up,
        )

    def close(self) -> None:
        """Release the store's connections."""
        if self._data_version is not None:
            self._data_version.close()
        self.engine.dispose()
