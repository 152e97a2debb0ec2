"""Request bodies of Elastic's connector and sync job APIs, as Elasticsearch parses them.

Each model is named after the parser Elasticsearch uses for that body, so that a refused
body is reported with the same words (`[connector_sync_job_post_request] unknown field
[x]`). Unknown fields are refused, as Elasticsearch's strict parsers do.

Parsing is followed, as in Elasticsearch, by the request's own validation
(`ElasticBody.problems`, Elasticsearch's `ActionRequest.validate`): rules across fields,
and index names, refused together as `Validation Failed: 1: …; 2: …;`. The nested parts
of a connector document are in `parts`.

These are the facade's: the services take the values a body carries, never the body, so
what Elasticsearch's parsers accept can change without touching a service.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from conveyor.compat.elastic.names import index_name_problem, managed_prefix_problem
from conveyor.compat.elastic.parts import (
    AdvancedSnippet,
    ConfigurationField,
    Features,
    Filtering,
    FilteringRule,
    FilteringValidation,
    Instant,
    Pipeline,
    Scheduling,
)
from conveyor.domain import RunStatus
from conveyor.services.elastic.documents import ConnectorStatus, SyncJobType


class ElasticBody(BaseModel):
    """A strict request body, declared with the name Elasticsearch gives its parser
    (`class X(ElasticBody, parser="…")`): the name a refusal of it quotes."""

    model_config = ConfigDict(extra="forbid")
    parser: ClassVar[str] = "request"

    def __init_subclass__(cls, parser: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if parser is not None:
            cls.parser = parser

    def problems(self) -> list[str]:
        """What Elasticsearch's request validation refuses in a parsed body (none here)."""
        return []


class ConnectorPut(ElasticBody, parser="connector_put_request"):
    """`PUT /_connector/{id}`, `PUT /_connector`, `POST /_connector`."""

    description: str | None = None
    index_name: str | None = None
    is_native: bool | None = None
    language: str | None = None
    name: str | None = None
    service_type: str | None = None

    def problems(self) -> list[str]:
        """A valid index name; an Elastic-managed connector's starts with `content-`."""
        found = [index_name_problem(self.index_name)]
        if self.is_native:
            found.append(managed_prefix_problem(self.index_name))
        return [reason for reason in found if reason]


class SyncJobPost(ElasticBody, parser="connector_sync_job_post_request"):
    """`POST /_connector/_sync_job`."""

    id: str
    job_type: SyncJobType | None = None
    trigger_method: Literal["on_demand", "scheduled"] | None = None


class SyncJobClaim(ElasticBody, parser="claim_connector_sync_job"):
    """`PUT /_connector/_sync_job/{id}/_claim`."""

    worker_hostname: str
    sync_cursor: dict[str, Any] | None = None


class SyncJobError(ElasticBody, parser="connector_sync_job_error_request"):
    """`PUT /_connector/_sync_job/{id}/_error`."""

    error: str


class SyncJobStats(ElasticBody, parser="connector_sync_job_update_ingestion_stats"):
    """`PUT /_connector/_sync_job/{id}/_stats`: absolute counts, as Elasticsearch stores them."""

    deleted_document_count: int = Field(ge=0)
    indexed_document_count: int = Field(ge=0)
    indexed_document_volume: int = Field(ge=0, description="MiB indexed.")
    total_document_count: int | None = Field(default=None, ge=0)
    last_seen: dt.datetime | None = None
    metadata: dict[str, Any] | None = None


class ApiKeyIdUpdate(ElasticBody, parser="connector_update_api_key_id_request"):
    """`PUT /_connector/{id}/_api_key_id`: either key, or both; not both null."""

    api_key_id: str | None = None
    api_key_secret_id: str | None = None


class ConfigurationUpdate(ElasticBody, parser="connector_update_configuration_request"):
    """Either the whole `configuration` (replaced) or only `values` of known keys."""

    configuration: dict[str, ConfigurationField] | None = None
    values: dict[str, Any] | None = None

    def problems(self) -> list[str]:
        """Exactly one of `configuration` and `values`."""
        if self.configuration is None and self.values is None:
            return ["[configuration] and [values] cannot both be null."]
        if self.configuration is not None and self.values is not None:
            return ["[configuration] and [values] cannot both be provided in the same request."]
        return []


class ErrorUpdate(ElasticBody, parser="connector_update_error_request"):
    """`PUT /_connector/{id}/_error`: an error, or null to clear it."""

    error: str | None


class FeaturesUpdate(ElasticBody, parser="connector_update_features_request"):
    """`PUT /_connector/{id}/_features`: the features given; the others keep their setting."""

    features: Features


class FilteringUpdate(ElasticBody, parser="connector_update_filtering_request"):
    """The whole `filtering` list, or a new draft (`rules`, `advanced_snippet`)."""

    filtering: list[Filtering] | None = None
    rules: list[FilteringRule] | None = None
    advanced_snippet: AdvancedSnippet | None = None

    def problems(self) -> list[str]:
        """Either the whole filtering, or a draft's rules and/or advanced snippet."""
        if self.filtering is None and self.rules is None and self.advanced_snippet is None:
            return ["[advanced_snippet] and [rules] cannot be both [null]."]
        if self.filtering is not None and (
            self.rules is not None or self.advanced_snippet is not None
        ):
            return [
                "If [filtering] is specified, [rules] and [advanced_snippet] should not be "
                "present in the request body."
            ]
        return []


class FilteringValidationUpdate(
    ElasticBody, parser="connector_update_filtering_validation_request"
):
    """`PUT /_connector/{id}/_filtering/_validation`."""

    validation: FilteringValidation


class IndexNameUpdate(ElasticBody, parser="connector_update_index_name_request"):
    """`PUT /_connector/{id}/_index_name`: a valid index no other connector uses, or null."""

    index_name: str | None

    def problems(self) -> list[str]:
        reason = index_name_problem(self.index_name)
        return [reason] if reason else []


class NameUpdate(ElasticBody, parser="connector_update_name_request"):
    """`PUT /_connector/{id}/_name`: the name, the description, or both; not both null."""

    name: str | None = None
    description: str | None = None


class NativeUpdate(ElasticBody, parser="connector_update_native_request"):
    """`PUT /_connector/{id}/_native`."""

    is_native: bool


class PipelineUpdate(ElasticBody, parser="connector_update_pipeline_request"):
    """`PUT /_connector/{id}/_pipeline`."""

    pipeline: Pipeline


class SchedulingUpdate(ElasticBody, parser="connector_update_scheduling_request"):
    """`PUT /_connector/{id}/_scheduling`: at least one schedule, each a valid Quartz cron."""

    scheduling: Scheduling

    def problems(self) -> list[str]:
        if not self.scheduling.model_fields_set:
            return ["[scheduling] must set [access_control], [full] or [incremental]."]
        return []


class ServiceTypeUpdate(ElasticBody, parser="connector_update_service_type_request"):
    """`PUT /_connector/{id}/_service_type`: a new type needs configuring again."""

    service_type: str


class StatusUpdate(ElasticBody, parser="connector_update_status_request"):
    """`PUT /_connector/{id}/_status`: only along Elastic's connector state machine."""

    status: ConnectorStatus


class LastSyncUpdate(ElasticBody, parser="connector_update_last_sync_stats_request"):
    """`PUT /_connector/{id}/_last_sync`: what a connector service reports after a sync."""

    last_access_control_sync_error: str | None = None
    last_access_control_sync_scheduled_at: Instant | None = None
    last_access_control_sync_status: RunStatus | None = None
    last_deleted_document_count: int | None = None
    last_incremental_sync_scheduled_at: Instant | None = None
    last_indexed_document_count: int | None = None
    last_seen: Instant | None = None
    last_sync_error: str | None = None
    last_sync_scheduled_at: Instant | None = None
    last_sync_status: RunStatus | None = None
    last_synced: Instant | None = None
    sync_cursor: dict[str, Any] | None = None
