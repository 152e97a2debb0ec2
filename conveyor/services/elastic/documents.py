"""Elastic's connector and sync job documents as the services give them: typed values.

The Elastic services read and change rows; the facade answers JSON. Between the two
stand these values: a `Connector` and a `SyncJob` carry every field of Elastic's
documents under Elastic's names (timestamps still `datetime`), so that the facade only
maps shapes and never sees a row. The statuses and job types here are Elastic's
vocabulary, which services decide on (a connector's state machine, which job types an
external worker may run), so they live beside the services rather than the facade.

The rest of a connector's document — configuration, filtering, scheduling, pipeline, the
last-sync report — is stored as Elastic writes it; `new_document` is its starting point.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from conveyor.domain import utcnow


class ConnectorStatus(StrEnum):
    """A connector's own status (not its sync jobs')."""

    created = "created"
    needs_configuration = "needs_configuration"
    configured = "configured"
    connected = "connected"
    error = "error"


CONNECTOR_TRANSITIONS: dict[ConnectorStatus, frozenset[ConnectorStatus]] = {
    ConnectorStatus.created: frozenset(
        {ConnectorStatus.needs_configuration, ConnectorStatus.error}
    ),
    ConnectorStatus.needs_configuration: frozenset({ConnectorStatus.configured}),
    ConnectorStatus.configured: frozenset(
        {ConnectorStatus.needs_configuration, ConnectorStatus.connected, ConnectorStatus.error}
    ),
    ConnectorStatus.connected: frozenset({ConnectorStatus.configured, ConnectorStatus.error}),
    ConnectorStatus.error: frozenset({ConnectorStatus.connected, ConnectorStatus.configured}),
}
"""Elastic's connector state machine (`_status` refuses anything else)."""


class SyncJobType(StrEnum):
    """Elastic's sync job types; `access_control` exists only for self-managed connectors."""

    full = "full"
    incremental = "incremental"
    access_control = "access_control"


MANAGED_INDEX_PREFIX = "content-"
"""The prefix of every index an Elastic-managed (native) connector may fill."""
ACCESS_CONTROL_INDEX_PREFIX = ".search-acl-filter-"
"""An access-control sync job fills this prefix + its connector's index name."""
DEFAULT_RULE: dict[str, Any] = {
    "field": "_",
    "id": "DEFAULT",
    "order": 0,
    "policy": "include",
    "rule": "regex",
    "value": ".*",
}
"""The rule every filtering ends with: include everything (the rest filters before it)."""


def managed_index(index_name: str) -> bool:
    """Whether an Elastic-managed connector may fill the index."""
    return index_name.startswith(MANAGED_INDEX_PREFIX)


def iso(value: dt.datetime | None) -> str | None:
    """A timestamp as Elasticsearch writes an Instant: UTC, milliseconds, `Z`
    (`2023-05-25T12:30:00.000Z`)."""
    if value is None:
        return None
    utc = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Connector:
    """A connector as Elastic shows it: its columns, then the rest of its `document`."""

    id: str
    api_key_id: str | None
    api_key_secret_id: str | None
    deleted: bool
    description: str | None
    error: str | None
    index_name: str | None
    is_native: bool
    language: str | None
    last_seen: dt.datetime | None
    name: str
    service_type: str | None
    status: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class SyncJob:
    """A sync job as Elastic shows it (a run, with what Elastic keeps beyond it)."""

    cancelation_requested_at: dt.datetime | None
    canceled_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime | None
    last_seen: dt.datetime | None
    started_at: dt.datetime | None
    connector: Mapping[str, Any]
    deleted_document_count: int
    error: str | None
    id: str
    indexed_document_count: int
    indexed_document_volume: int
    job_type: str
    metadata: Mapping[str, Any]
    status: str
    total_document_count: int
    trigger_method: str
    worker_hostname: str | None


SYNC_INFO: dict[str, Any] = {
    "last_access_control_sync_error": None,
    "last_access_control_sync_scheduled_at": None,
    "last_access_control_sync_status": None,
    "last_deleted_document_count": 0,
    "last_incremental_sync_scheduled_at": None,
    "last_indexed_document_count": 0,
    "last_sync_error": None,
    "last_sync_scheduled_at": None,
    "last_sync_status": None,
    "last_synced": None,
}
"""What a connector service reports after each sync (`_last_sync`), with its defaults."""


def default_filtering() -> list[dict[str, Any]]:
    """Elastic's default filtering: one DEFAULT domain that includes everything, valid."""
    now = iso(utcnow())
    rules = {
        "advanced_snippet": {"created_at": now, "updated_at": now, "value": {}},
        "rules": [{**DEFAULT_RULE, "created_at": now, "updated_at": now}],
        "validation": {"errors": [], "state": "valid"},
    }
    return [{"active": rules, "domain": "DEFAULT", "draft": copy.deepcopy(rules)}]


def new_document(configuration: dict[str, Any], interval: str) -> dict[str, Any]:
    """The stored part of a new connector's document, with its configuration and the
    interval every (disabled) schedule starts with."""
    schedule = {"enabled": False, "interval": interval}
    return {
        "configuration": configuration,
        "custom_scheduling": {},
        "features": None,
        "filtering": default_filtering(),
        "pipeline": {
            "extract_binary_content": True,
            "name": "search-default-ingestion",
            "reduce_whitespace": True,
            "run_ml_inference": True,
        },
        "scheduling": {kind: dict(schedule) for kind in ("access_control", "full", "incremental")},
        "sync_cursor": None,
        "sync_now": False,
        **SYNC_INFO,
    }
