"""The `_update_*` operations of Elastic connectors, each with Elasticsearch's rules.

Each changes one part of a connector: a column, a part of its stored document, or the
status that follows from the change. Changes that decide what a Conveyor-run connector
executes (service type, configuration, index name, scheduling) re-wire its job
(`wiring.wire`), which is refused (409) while one of its runs is active.

They take plain values named as the fields of Elastic's bodies (the facade parsed the
bodies and passes the fields a client sent; one left out is left alone) and return
nothing: the facade answers `{"result": "updated"}`.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import Any

from conveyor.domain import utcnow
from conveyor.errors import InvalidInput
from conveyor.services import audit
from conveyor.services.context import Context
from conveyor.services.elastic import connectors, wiring
from conveyor.services.elastic.documents import (
    CONNECTOR_TRANSITIONS,
    DEFAULT_RULE,
    MANAGED_INDEX_PREFIX,
    ConnectorStatus,
    default_filtering,
    iso,
    managed_index,
)
from conveyor.store.models import ElasticConnector


class IllegalConnectorTransition(InvalidInput):
    """The connector cannot move to that status from its current one."""


def _editable(ctx: Context, connector_id: str) -> ElasticConnector:
    ctx.principal.require_write()
    row = connectors.visible(ctx, connector_id)
    audit.note(row.job_id, connectors.job_of(ctx, row).workspace_id)
    return row


def _store(row: ElasticConnector, **parts: Any) -> None:
    row.document = {**row.document, **parts}  # a new dict: the JSON column sees the change


def _filtering(row: ElasticConnector) -> list[dict[str, Any]]:
    """A copy of the connector's filtering, to change and store again."""
    return copy.deepcopy(row.document.get("filtering") or default_filtering())


def _rewire(ctx: Context, row: ElasticConnector) -> None:
    wiring.wire(ctx, row, connectors.job_of(ctx, row))


def _columns(row: ElasticConnector, given: Mapping[str, str | None], *names: str) -> None:
    """Set those of the named columns that were given; refused when none has a value."""
    if all(given.get(name) is None for name in names):
        both = " and ".join(f"[{name}]" for name in names)
        raise InvalidInput(f"{both} cannot both be [null]")
    for name in names:
        if name in given:
            setattr(row, name, given[name])


def set_api_key_id(ctx: Context, connector_id: str, **given: str | None) -> None:
    """`api_key_id` and `api_key_secret_id`, those given."""
    _columns(_editable(ctx, connector_id), given, "api_key_id", "api_key_secret_id")


def rename(ctx: Context, connector_id: str, **given: str | None) -> None:
    """`name` and `description`, those given (a null name is an empty one)."""
    row = _editable(ctx, connector_id)
    _columns(row, given, "name", "description")
    row.name = row.name or ""


def configure(
    ctx: Context,
    connector_id: str,
    configuration: dict[str, dict[str, Any]] | None = None,
    values: dict[str, Any] | None = None,
) -> None:
    """Replace the whole configuration, or set values of keys it already has."""
    row = _editable(ctx, connector_id)
    current: dict[str, Any] = dict(row.document.get("configuration") or {})
    if configuration is not None:
        current = copy.deepcopy(configuration)
    elif values is not None:
        unknown = sorted(set(values) - set(current))
        if unknown:
            raise InvalidInput(
                f"Unknown [configuration] fields in the request payload: [{', '.join(unknown)}]. "
                "Remove them from request or register their schema first."
            )
        for key, value in values.items():
            current[key] = {**current[key], "value": value}
    else:
        raise InvalidInput("[configuration] and [values] cannot both be null.")
    _store(row, configuration=current)
    row.status = ConnectorStatus.configured.value
    _rewire(ctx, row)


def set_error(ctx: Context, connector_id: str, error: str | None) -> None:
    """An error puts the connector in `error`; clearing it makes it `connected`."""
    row = _editable(ctx, connector_id)
    row.error = error or None
    row.status = (ConnectorStatus.error if error else ConnectorStatus.connected).value


def _merged(current: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` laid over `current`, object by object (Elasticsearch's partial update)."""
    merged = dict(current) if isinstance(current, Mapping) else {}
    for key, value in given.items():
        if isinstance(value, Mapping):
            merged[key] = _merged(merged.get(key), value)
        else:
            merged[key] = value
    return merged


def set_features(ctx: Context, connector_id: str, features: dict[str, Any]) -> None:
    """The features given; the others keep their setting (a partial update)."""
    row = _editable(ctx, connector_id)
    _store(row, features=_merged(row.document.get("features"), features))


def _stamped(part: Mapping[str, Any], now: str) -> dict[str, Any]:
    """A rule or an advanced snippet with its dates as Elastic writes them (now if unset)."""
    return {
        **part,
        "created_at": iso(part.get("created_at")) or now,
        "updated_at": iso(part.get("updated_at")) or now,
    }


def _is_default_rule(rule: Mapping[str, Any]) -> bool:
    default = DEFAULT_RULE
    return all(rule.get(key) == default[key] for key in ("field", "id", "policy", "rule", "value"))


def ordered_rules(rules: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """Rules sorted by `order`, with the DEFAULT rule last (added when missing), as
    Elasticsearch keeps a draft's rules."""
    default = next((rule for rule in rules if _is_default_rule(rule)), None)
    others = sorted(
        (_stamped(rule, now) for rule in rules if not _is_default_rule(rule)),
        key=lambda rule: int(rule["order"]),
    )
    last = {
        **DEFAULT_RULE,
        "created_at": default.get("created_at") if default else None,
        "order": int(others[-1]["order"]) + 1 if others else 0,
    }
    return [*others, _stamped(last, now)]


def _whole(filtering: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """A whole filtering list as stored: the DEFAULT domain, dates written as Elastic's."""
    stored = []
    for entry in filtering:
        copied = {**entry, "domain": "DEFAULT"}
        for side in ("active", "draft"):
            rules = copied[side]
            copied[side] = {
                **rules,
                "advanced_snippet": _stamped(rules["advanced_snippet"], now),
                "rules": [_stamped(rule, now) for rule in rules["rules"]],
            }
        stored.append(copied)
    return stored


def set_filtering(
    ctx: Context,
    connector_id: str,
    filtering: list[dict[str, Any]] | None = None,
    rules: list[dict[str, Any]] | None = None,
    advanced_snippet: dict[str, Any] | None = None,
) -> None:
    """The whole filtering list, or a new draft whose validation starts over (`edited`):
    its rules in order with the DEFAULT rule last, its dates written as Elastic's."""
    row = _editable(ctx, connector_id)
    now = iso(utcnow()) or ""
    if filtering is not None:
        _store(row, filtering=_whole(filtering, now))
        return
    if rules is None and advanced_snippet is None:
        raise InvalidInput("[advanced_snippet] and [rules] cannot be both [null].")
    changed = _filtering(row)
    draft = changed[0].setdefault("draft", {})
    if rules is not None:
        draft["rules"] = ordered_rules(rules, now)
    if advanced_snippet is not None:
        draft["advanced_snippet"] = _stamped(advanced_snippet, now)
    draft["validation"] = {"errors": [], "state": "edited"}
    _store(row, filtering=changed)


def activate_filtering(ctx: Context, connector_id: str) -> None:
    """The draft becomes active, once the connector service validated it."""
    row = _editable(ctx, connector_id)
    changed = _filtering(row)
    draft = changed[0].get("draft") or {}
    state = (draft.get("validation") or {}).get("state")
    if state != "valid":
        raise InvalidInput(
            "Filtering draft needs to be validated by the connector service before activation. "
            f"Current filtering draft validation state [{state}] is not equal to [valid]."
        )
    changed[0]["active"] = copy.deepcopy(draft)
    _store(row, filtering=changed)


def set_filtering_validation(ctx: Context, connector_id: str, validation: dict[str, Any]) -> None:
    """The connector service's verdict on the draft."""
    row = _editable(ctx, connector_id)
    changed = _filtering(row)
    changed[0].setdefault("draft", {})["validation"] = validation
    _store(row, filtering=changed)


def set_index_name(ctx: Context, connector_id: str, index_name: str | None) -> bool:
    """Attach another index (or none); whether that changed anything. An Elastic-managed
    connector's index starts with `content-`."""
    row = _editable(ctx, connector_id)
    connectors.check_index_name(ctx, index_name, connector_id)
    if index_name == row.index_name:
        return False
    if row.is_native and index_name is not None and not managed_index(index_name):
        raise InvalidInput(
            "Index attached to an Elastic-managed connector must start with the prefix: "
            f"[{MANAGED_INDEX_PREFIX}]. The index name in the payload [{index_name}] doesn't "
            "comply with this requirement."
        )
    row.index_name = index_name
    _rewire(ctx, row)
    return True


def set_native(ctx: Context, connector_id: str, is_native: bool) -> None:
    """A connected connector that changes hands must connect again (`configured`); an
    Elastic-managed one needs an index that starts with `content-`."""
    row = _editable(ctx, connector_id)
    if is_native and row.index_name is not None and not managed_index(row.index_name):
        raise InvalidInput(
            f"The index name [{row.index_name}] attached to the connector [{connector_id}] "
            f"must start with the required prefix: [{MANAGED_INDEX_PREFIX}] to be "
            "Elastic-managed. Please update the attached index first to comply with this "
            "requirement."
        )
    row.is_native = is_native
    if row.status == ConnectorStatus.connected.value:
        row.status = ConnectorStatus.configured.value


def set_pipeline(ctx: Context, connector_id: str, pipeline: dict[str, Any]) -> None:
    _store(_editable(ctx, connector_id), pipeline=pipeline)


def schedule(ctx: Context, connector_id: str, scheduling: dict[str, Any]) -> None:
    """The schedules given (`full`, `incremental`, `access_control`); the others stay."""
    row = _editable(ctx, connector_id)
    given = {kind: entry for kind, entry in scheduling.items() if entry is not None}
    _store(row, scheduling={**(row.document.get("scheduling") or {}), **given})
    _rewire(ctx, row)


def set_service_type(ctx: Context, connector_id: str, service_type: str) -> None:
    """A new service type needs configuring again; Conveyor's types get their schema."""
    row = _editable(ctx, connector_id)
    row.service_type = service_type
    if row.status != ConnectorStatus.created.value:
        row.status = ConnectorStatus.needs_configuration.value
    if wiring.runs_on_conveyor(row):
        schema = wiring.configuration_schema()
        current = row.document.get("configuration") or {}
        _store(row, configuration={**schema, **{k: v for k, v in current.items() if k in schema}})
    _rewire(ctx, row)


def set_status(ctx: Context, connector_id: str, status: ConnectorStatus) -> None:
    row = _editable(ctx, connector_id)
    current = ConnectorStatus(row.status)
    if status not in CONNECTOR_TRANSITIONS[current]:
        raise IllegalConnectorTransition(
            f"Invalid transition attempt from [{current.value}] to [{status.value}]. "
            "Such a connector status transition is not supported."
        )
    row.status = status.value


def record_last_sync(ctx: Context, connector_id: str, **report: Any) -> None:
    """What a connector service reports after a sync, stored as given (its times as
    Elastic writes them); `last_seen` is the connector's own column."""
    row = _editable(ctx, connector_id)
    stored = {
        k: iso(v) if isinstance(v, dt.datetime) else v.value if isinstance(v, Enum) else v
        for k, v in report.items()
    }
    if "last_seen" in report:
        row.last_seen = report["last_seen"]
        del stored["last_seen"]
    _store(row, **stored)
