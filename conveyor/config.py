"""Configuration: one `Settings` object read from `CONVEYOR_*` environment variables.

Every knob the server has lives here, validated once at start-up, so that a typo in a
deployment fails loudly before a single run is claimed.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from conveyor.policy.hosts import check_host_list


def _split_list(value: Any) -> Any:
    """A comma-separated environment value as a list (a JSON list or a list pass through)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]
"""A list setting written as `a,b,c` (or a JSON list) in the environment."""


def comma_list(description: str) -> Any:
    """A list setting, empty unless given; the environment spells it comma-separated."""
    return Field(default_factory=list, description=description + " (comma-separated)")


def positive(
    default: float, description: str, *, most: float | None = None, zero: bool = False
) -> Any:
    """A number of seconds or days (as the setting's name says): above 0, or from 0 where
    `zero` (0 then means never, or at once, as its description says), at most `most`."""
    return Field(
        default=default,
        gt=None if zero else 0,
        ge=0 if zero else None,
        le=most,
        description=description,
    )


def at_least_one(default: int | None, description: str, *, most: int | None = None) -> Any:
    """A number of things (processes, requests, days), at least 1 and at most `most`; a
    `None` default leaves it unset, and its description says what unset means."""
    return Field(default=default, ge=1, le=most, description=description)


class Settings(BaseSettings):
    """The server's configuration; each field is documented in docs/operations.md."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path(".conveyor"),
        description="Directory for the embedded metadata store, secret key and artifacts.",
    )
    database_url: str | None = Field(
        default=None,
        description="Metadata store URL; default sqlite:///<data_dir>/conveyor.db. "
        "Use postgresql://… to share one store between several nodes.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8077, ge=1, le=65535, description="Port the API listens on.")
    admin_token: str | None = Field(
        default=None,
        description="Token of the first admin, created when the store has no user yet "
        "(generated and printed once when unset); ignored once the store has users.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that encrypts connection secrets at rest (Fernet, urlsafe base64); "
        "generated into <data_dir>/secret.key (mode 0600) when unset.",
    )
    workers: int = Field(
        default=2, ge=0, le=256, description="Runs executed at once by this process."
    )
    poll_interval: float = positive(
        1.0, "Seconds between queue polls when no wake-up arrives.", most=60
    )
    heartbeat_interval: float = positive(
        2.0, "Seconds between heartbeats of a running run.", most=60
    )
    heartbeat_timeout: float = positive(
        60.0, "Seconds of silence after which the sweeper declares a run's worker dead."
    )
    external_heartbeat_timeout: float = positive(
        300.0,
        "Seconds of silence (no check-in or stats) after which the sweeper fails a sync job claimed by an external worker through the Elastic connector API.",
    )
    cancel_grace: float = positive(
        3.0, "Seconds a canceled run gets to stop on its own before it is killed."
    )
    schedule_interval: float = positive(
        5.0, "Seconds between checks of the cron schedules.", most=60
    )
    schedule_catch_up: float = positive(
        3600.0,
        "A tick missed while down still fires if it is younger than this (seconds).",
        zero=True,
    )
    scheduler: bool = Field(
        default=True, description="Run the cron scheduler in `conveyor serve` (any number may run)."
    )
    retry_backoff: float = positive(
        5.0,
        "Seconds before the first retry of a failed run; doubled each attempt (capped at 10 minutes), with jitter.",
        zero=True,
    )
    shutdown_grace: float = positive(
        30.0, "On SIGTERM, seconds running runs get to finish before they are suspended.", zero=True
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for job emails (unset: no email)."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(default=None, description="SMTP user, when it needs one.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(default="conveyor@localhost", description="Sender of job emails.")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        default="none", description="none, starttls, or ssl (implicit TLS)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of log lines."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="json, text, or auto (json when stderr is not a TTY)."
    )
    demo: bool = Field(
        default=False, description="Create the demo workspace and job on start when absent."
    )
    datafeed_timeout: float = positive(
        3600.0,
        "Seconds a synchronous SCAPI datafeed call waits for its run; past that it answers 504 while the run goes on.",
    )
    files_max_age_days: float = positive(
        30.0,
        "Run files older than this many days are deleted (0: kept until their run is deleted).",
        zero=True,
    )
    files_keep_per_job: int = Field(
        default=100,
        ge=0,
        description="Only the files of each job's newest this many runs are kept (0: no limit).",
    )
    files_cleanup_interval: float = positive(
        600.0, "Seconds between two passes of the file cleaner."
    )
    run_retention_days: float = positive(
        90.0,
        "Finished runs older than this many days are deleted with their log lines, task results and files; active runs and each job's newest run are kept (0: kept forever).",
        zero=True,
    )
    log_retention_days: float = positive(
        30.0,
        "Log lines of finished runs older than this many days are deleted (0: kept as long as their run).",
        zero=True,
    )

    allowed_paths: CommaList = comma_list(
        "Folders whose files every workspace's non-admin users may use for SQLite, DuckDB and "
        "file connections. The data directory is refused whatever this says; each workspace "
        "also has its own folder under it"
    )
    allowed_hosts: CommaList = comma_list(
        "Host names, addresses and CIDRs that non-admin connections, webhooks and events may "
        "reach although loopback, private or link-local"
    )
    denied_hosts: CommaList = comma_list(
        "Host names, addresses and CIDRs nobody may reach, admins included; cloud metadata "
        "and link-local addresses are denied unless allowed"
    )
    api_concurrency: int = at_least_one(
        16,
        "Requests of this API process working on the store at once; the others "
        "wait in line. The worker threads and the store's connection pool are sized from it.",
        most=1000,
    )
    api_processes: int | None = at_least_one(
        None,
        "API processes `conveyor serve` starts on its one port (unset: one per "
        "CPU core). With more than one, the embedded workers, the scheduler and the file "
        "cleaner run in the supervising process, once, and the API processes only answer.",
        most=64,
    )
    console_session_seconds: int = Field(
        default=8 * 3600,
        ge=60,
        le=30 * 86400,
        description="Seconds a web console sign-in lasts; then the browser signs in again.",
    )
    auth_cache_seconds: float = positive(
        5.0,
        "Seconds an API process trusts a token it verified without asking the store again (0: ask on every request). A token revoked, or whose user changed, stops working at once in the process that changed it and within this time in the others.",
        most=300,
        zero=True,
    )
    read_cache_entries: int = Field(
        default=1024,
        ge=0,
        le=1_000_000,
        description="Answers of the native API's store reads an API process keeps and serves "
        "again while the store has not changed (0: keep none).",
    )
    read_cache_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=64 * 1024,
        description="Bytes of answers an API process keeps at most (one answer at most a "
        "sixteenth of it); least recently used out first.",
    )
    api_queue_timeout: float = positive(
        30.0,
        "Seconds a request waits in line for the store before it answers 503 with Retry-After (the server is overloaded).",
    )
    write_transaction_budget: float = positive(
        0.5,
        "Seconds a write transaction of the metadata store may last (from its BEGIN to its commit) before a warning names the request or operation that held it: writers wait for each other, so no network or slow work belongs inside one.",
    )
    cdc_retained_warning_bytes: int = Field(
        default=1024**3,
        ge=0,
        description="WAL a change data capture job's replication slot may keep on its source before the job's status warns of it (a forgotten slot fills the source's disk); 0: never warn.",
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted (bytes); larger ones answer 413 unread.",
    )
    max_json_depth: int = Field(
        default=64, ge=4, le=1000, description="Deepest nesting of arrays and objects in a body."
    )
    auth_failures_per_minute: int = at_least_one(
        10,
        "Failed sign-ins allowed per user name in a minute (and five times as many "
        "per client address) before further password attempts (and unknown tokens) answer 429; "
        "valid tokens are always accepted. Counted in memory by each API process on its own.",
    )
    token_default_days: int | None = at_least_one(
        None,
        "Lifetime in days of a token created without expires_in_days (unset: "
        "token_max_days when that is set, else no expiry — except for viewers, whose tokens "
        "always expire: 30 days unless this or token_max_days says otherwise).",
    )
    token_max_days: int | None = at_least_one(
        None,
        "Longest lifetime in days a token may be given; longer asks answer 422 "
        "(unset: no limit for admins and standard users, 30 days for viewers).",
    )
    audit_retention_days: float = positive(
        365.0,
        "Audit log entries older than this many days are deleted (0: kept forever).",
        zero=True,
    )

    @field_validator("allowed_hosts", "denied_hosts")
    @classmethod
    def _host_entries(cls, value: list[str], info: Any) -> list[str]:
        check_host_list(value, f"CONVEYOR_{info.field_name.upper()}")
        return value

    @model_validator(mode="after")
    def _token_days_consistent(self) -> Settings:
        if (
            self.token_default_days is not None
            and self.token_max_days is not None
            and self.token_default_days > self.token_max_days
        ):
            raise ValueError(
                f"CONVEYOR_TOKEN_DEFAULT_DAYS ({self.token_default_days}) exceeds "
                f"CONVEYOR_TOKEN_MAX_DAYS ({self.token_max_days})"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @cached_property
    def metadata_url(self) -> str:
        """The SQLAlchemy URL of the metadata store, with the psycopg 3 driver for PostgreSQL."""
        url = self.database_url or f"sqlite:///{self.data_dir.resolve() / 'conveyor.db'}"
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def processes(self) -> int:
        """How many API processes `conveyor serve` runs (`api_processes`, else the cores)."""
        if self.api_processes is not None:
            return self.api_processes
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)

    @property
    def files_dir(self) -> Path:
        """Where run artifacts are stored."""
        return self.data_dir.resolve() / "files"
