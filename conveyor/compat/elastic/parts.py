"""Parts of a connector document, as Elasticsearch's parsers read them from a request.

A body that changes a connector's configuration, filtering, scheduling or features
carries these objects; each model refuses what Elasticsearch's parser of the same name
refuses (a missing required field, a value of the wrong type, an unknown enumeration
value, a date that is not one, a cron expression Quartz cannot build). Like those
parsers, the nested objects ignore fields they do not know; the request bodies
(`schemas`) do not.

Dates are read as Elasticsearch reads an Instant — an ISO-8601 string or epoch
milliseconds — and handed to the services as `datetime`s.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from conveyor.compat.elastic import quartz


class Part(BaseModel):
    """A nested object of a connector document: lenient about unknown fields."""

    model_config = ConfigDict(extra="ignore")


def _instant(value: Any) -> Any:
    """Epoch milliseconds as a UTC datetime; anything else is left to the datetime parser."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    return value


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


Instant = Annotated[dt.datetime, BeforeValidator(_instant), AfterValidator(_utc)]
"""A date as Elasticsearch parses one: ISO-8601, or epoch milliseconds."""


# --- configuration -------------------------------------------------------------------------

Scalar = StrictStr | int | float | bool | None


class Dependency(Part):
    """`depends_on`: the field whose value shows this one."""

    field: StrictStr
    value: Scalar


class SelectOption(Part):
    """An option of a dropdown field."""

    label: StrictStr
    value: StrictStr


class Validation(Part):
    """A constraint the connector service checks a value against."""

    constraint: StrictStr | int | float | list[StrictStr | int | float]
    type: Literal["less_than", "greater_than", "list_type", "included_in", "regex"]


class ConfigurationField(Part):
    """One entry of a connector's `configuration`; only `label` is required."""

    category: StrictStr | None = None
    default_value: Scalar = None
    depends_on: list[Dependency] | None = None
    display: Literal["textbox", "textarea", "numeric", "toggle", "dropdown"] | None = None
    label: StrictStr
    options: list[SelectOption] | None = None
    order: int | None = None
    placeholder: StrictStr | None = None
    required: bool = False
    sensitive: bool = False
    tooltip: StrictStr | None = None
    type: Literal["str", "int", "list", "bool"] | None = None
    ui_restrictions: list[StrictStr] | None = None
    validations: list[Validation] | None = None
    value: Scalar | dict[str, Any] = None


# --- filtering -----------------------------------------------------------------------------


class FilteringRule(Part):
    """A basic sync rule; its dates default to the moment it is stored."""

    created_at: Instant | None = None
    field: StrictStr
    id: StrictStr
    order: int
    policy: Literal["include", "exclude"]
    rule: Literal["contains", "ends_with", "equals", ">", "<", "regex", "starts_with"]
    updated_at: Instant | None = None
    value: StrictStr


class AdvancedSnippet(Part):
    """An advanced sync rule: its value is an object (or a list of them), never a scalar."""

    created_at: Instant | None = None
    updated_at: Instant | None = None
    value: dict[str, Any] | list[Any]


class ValidationError(Part):
    """One error the connector service found in a filtering draft."""

    ids: list[StrictStr]
    messages: list[StrictStr]


class FilteringValidation(Part):
    """The connector service's verdict on a filtering draft: its errors are required."""

    errors: list[ValidationError]
    state: Literal["edited", "invalid", "valid"]


class FilteringRules(Part):
    """The active or the draft filtering of a connector."""

    advanced_snippet: AdvancedSnippet
    rules: list[FilteringRule]
    validation: FilteringValidation


class Filtering(Part):
    """A connector's filtering (its only domain is `DEFAULT`)."""

    active: FilteringRules
    domain: StrictStr = "DEFAULT"
    draft: FilteringRules


# --- scheduling, features, pipeline -------------------------------------------------------


def _quartz(expression: str) -> str:
    reason = quartz.problem(expression)
    if reason is not None:
        raise ValueError(reason)
    return expression


class Schedule(Part):
    """One kind of sync's schedule: a Quartz expression, e.g. `0 0 0 * * ?`."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool
    interval: Annotated[StrictStr, AfterValidator(_quartz)] = Field(
        description="A Quartz cron expression, e.g. 0 0 0 * * ?"
    )


class Scheduling(Part):
    """The schedules to change; a kind left out keeps its schedule."""

    model_config = ConfigDict(extra="forbid")
    access_control: Schedule | None = None
    full: Schedule | None = None
    incremental: Schedule | None = None


class Enabled(Part):
    """A feature switch."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool


class SyncRulesFeature(Part):
    """Which kinds of sync rules the connector supports."""

    model_config = ConfigDict(extra="forbid")
    advanced: Enabled | None = None
    basic: Enabled | None = None


class Features(Part):
    """What the connector supports; a feature left out keeps its setting."""

    model_config = ConfigDict(extra="forbid")
    document_level_security: Enabled | None = None
    incremental_sync: Enabled | None = None
    native_connector_api_keys: Enabled | None = None
    sync_rules: SyncRulesFeature | None = None


class Pipeline(Part):
    """The ingest pipeline a connector's documents go through (all four settings)."""

    model_config = ConfigDict(extra="forbid")
    extract_binary_content: bool
    name: StrictStr
    reduce_whitespace: bool
    run_ml_inference: bool
