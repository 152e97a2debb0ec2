"""The `_update_*` operations of Elastic connectors, each with Elasticsearch's rules.

Changes that decide what a Conveyor-run connector executes (service type,
configuration, index name, scheduling) re-wire its job (`wiring.wire`), which
is refused (409) while one of its runs is active.
"""

from __future__ import annotations

import copy
from typing import Any

from conveyor.domain import utcnow
from conveyor.errors import InvalidInput
from conveyor.schemas.elastic import (
    CONNECTOR_TRANSITIONS,
    ApiKeyIdUpdate,
    ConfigurationUpdate,
    ConnectorStatus,
    FilteringUpdate,
    FilteringValidation,
    LastSyncUpdate,
    NameUpdate,
    Pipeline,
    Scheduling,
)
from conveyor.services import audit
from conveyor.services.context import Context
from conveyor.services.elastic import connectors, wiring
from conveyor.services.elastic.connectors import iso
from conveyor.store.models import ElasticConnector


class IllegalConnectorTransition(InvalidInput):
    """The connector cannot move to that status from its current one."""


def _editable(ctx: Context, connector_id: str) -> ElasticConnector:
    ctx.principal.require_write()
    row = connectors.get(ctx, connector_id)
    audit.note(row.job_id, connectors.job_of(ctx, row).workspace_id)
    return row


def _set(row: ElasticConnector, **fields: Any) -> None:
    row.document = {**row.document, **fields}  # a new dict: the JSON column sees the change


def _rewire(ctx: Context, row: ElasticConnector) -> None:
    wiring.wire(ctx, row, connectors.job_of(ctx, row))


def update_api_key_id(ctx: Context, connector_id: str, data: ApiKeyIdUpdate) -> None:
    row = _editable(ctx, connector_id)
    if data.api_key_id is None and data.api_key_secret_id is None:
        raise InvalidInput("[api_key_id] and [api_key_secret_id] cannot both be [null]")
    if "api_key_id" in data.model_fields_set:
        row.api_key_id = data.api_key_id
    if "api_key_secret_id" in data.model_fields_set:
        row.api_key_secret_id = data.api_key_secret_id


def update_configuration(ctx: Context, connector_id: str, data: ConfigurationUpdate) -> None:
    """Replace the whole configuration, or set values of keys it already has."""
    row = _editable(ctx, connector_id)
    current: dict[str, Any] = dict(row.document.get("configuration") or {})
    if data.configuration is not None:
        current = copy.deepcopy(data.configuration)
    elif data.values is not None:
        unknown = sorted(set(data.values) - set(current))
        if unknown:
            raise InvalidInput(
                f"Unknown [configuration] fields in the request payload: [{', '.join(unknown)}]. "
                "Remove them from request or register their schema first."
            )
        for key, value in data.values.items():
            current[key] = {**current[key], "value": value}
    else:
        raise InvalidInput("[configuration] and [values] cannot both be null.")
    _set(row, configuration=current)
    row.status = ConnectorStatus.configured.value
    _rewire(ctx, row)


def update_error(ctx: Context, connector_id: str, error: str | None) -> None:
    """An error puts the connector in `error`; clearing it makes it `connected`."""
    row = _editable(ctx, connector_id)
    row.error = error or None
    row.status = (ConnectorStatus.error if error else ConnectorStatus.connected).value


def update_features(ctx: Context, connector_id: str, features: dict[str, Any]) -> None:
    _set(_editable(ctx, connector_id), features=features)


def update_filtering(ctx: Context, connector_id: str, data: FilteringUpdate) -> None:
    """The whole filtering list, or a new draft whose validation starts over (`edited`)."""
    row = _editable(ctx, connector_id)
    if data.filtering is not None:
        _set(row, filtering=data.filtering)
        return
    if data.rules is None and data.advanced_snippet is None:
        raise InvalidInput("[filtering], [rules] and [advanced_snippet] cannot all be null.")
    filtering = copy.deepcopy(row.document.get("filtering") or connectors.default_filtering())
    draft = filtering[0].setdefault("draft", {})
    now = iso(utcnow())
    if data.rules is not None:
        draft["rules"] = sorted(data.rules, key=lambda rule: rule.get("order", 0))
    if data.advanced_snippet is not None:
        draft["advanced_snippet"] = {"created_at": now, "updated_at": now, **data.advanced_snippet}
    draft["validation"] = {"errors": [], "state": "edited"}
    _set(row, filtering=filtering)


def activate_filtering(ctx: Context, connector_id: str) -> None:
    """The draft becomes active, once the connector service validated it."""
    row = _editable(ctx, connector_id)
    filtering = copy.deepcopy(row.document.get("filtering") or connectors.default_filtering())
    draft = filtering[0].get("draft") or {}
    state = (draft.get("validation") or {}).get("state")
    if state != "valid":
        raise InvalidInput(
            "Filtering draft needs to be validated by the connector service before activation. "
            f"Current filtering draft validation state [{state}] is not equal to [valid]."
        )
    filtering[0]["active"] = copy.deepcopy(draft)
    _set(row, filtering=filtering)


def update_filtering_validation(
    ctx: Context, connector_id: str, validation: FilteringValidation
) -> None:
    row = _editable(ctx, connector_id)
    filtering = copy.deepcopy(row.document.get("filtering") or connectors.default_filtering())
    filtering[0].setdefault("draft", {})["validation"] = validation.model_dump()
    _set(row, filtering=filtering)


def update_index_name(ctx: Context, connector_id: str, index_name: str | None) -> None:
    row = _editable(ctx, connector_id)
    connectors.check_index_name(ctx, index_name, connector_id)
    row.index_name = index_name
    _rewire(ctx, row)


def update_name(ctx: Context, connector_id: str, data: NameUpdate) -> None:
    row = _editable(ctx, connector_id)
    if data.name is None and data.description is None:
        raise InvalidInput("[name] and [description] cannot both be [null]")
    if "name" in data.model_fields_set:
        row.name = data.name or ""
    if "description" in data.model_fields_set:
        row.description = data.description


def update_native(ctx: Context, connector_id: str, is_native: bool) -> None:
    """A connected connector that changes hands must connect again (`configured`)."""
    row = _editable(ctx, connector_id)
    row.is_native = is_native
    if row.status == ConnectorStatus.connected.value:
        row.status = ConnectorStatus.configured.value


def update_pipeline(ctx: Context, connector_id: str, pipeline: Pipeline) -> None:
    _set(_editable(ctx, connector_id), pipeline=pipeline.model_dump())


def update_scheduling(ctx: Context, connector_id: str, scheduling: Scheduling) -> None:
    row = _editable(ctx, connector_id)
    merged = dict(row.document.get("scheduling") or {})
    merged.update(scheduling.model_dump(exclude_none=True))
    _set(row, scheduling=merged)
    _rewire(ctx, row)


def update_service_type(ctx: Context, connector_id: str, service_type: str) -> None:
    """A new service type needs configuring again; Conveyor's types get their schema."""
    row = _editable(ctx, connector_id)
    row.service_type = service_type
    if row.status != ConnectorStatus.created.value:
        row.status = ConnectorStatus.needs_configuration.value
    if wiring.runs_on_conveyor(row):
        schema = wiring.configuration_schema()
        current = row.document.get("configuration") or {}
        _set(row, configuration={**schema, **{k: v for k, v in current.items() if k in schema}})
    _rewire(ctx, row)


def update_status(ctx: Context, connector_id: str, status: ConnectorStatus) -> None:
    row = _editable(ctx, connector_id)
    current = ConnectorStatus(row.status)
    if status not in CONNECTOR_TRANSITIONS[current]:
        raise IllegalConnectorTransition(
            f"Invalid transition attempt from [{current.value}] to [{status.value}]. "
            "Such a connector status transition is not supported."
        )
    row.status = status.value


def last_sync(ctx: Context, connector_id: str, data: LastSyncUpdate) -> None:
    """What a connector service reports after a sync: stored as given."""
    row = _editable(ctx, connector_id)
    fields = data.model_dump(mode="json", exclude_unset=True)
    if "last_seen" in fields:
        row.last_seen = data.last_seen
        del fields["last_seen"]
    for key in fields:
        if key.endswith("_at") or key == "last_synced":
            fields[key] = iso(getattr(data, key))
    _set(row, **fields)
