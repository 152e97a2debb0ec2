"""Request bodies of Elastic's connector and sync job APIs, as Elasticsearch parses them.

Each model is named after the parser Elasticsearch uses for that body, so that a refused
body is reported with the same words (`[connector_sync_job_post_request] unknown field
[x]`). Unknown fields are refused, as Elasticsearch's strict parsers do.

These are the facade's: the services take the values a body carries, never the body, so
what Elasticsearch's parsers accept can change without touching a service.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class ConnectorPut(ElasticBody, parser="connector_put_request"):
    """`PUT /_connector/{id}`, `PUT /_connector`, `POST /_connector`."""

    description: str | None = None
    index_name: str | None = None
    is_native: bool | None = None
    language: str | None = None
    name: str | None = None
    service_type: str | None = None


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

    configuration: dict[str, dict[str, Any]] | None = None
    values: dict[str, Any] | None = None


class ErrorUpdate(ElasticBody, parser="connector_update_error_request"):
    """`PUT /_connector/{id}/_error`: an error, or null to clear it."""

    error: str | None


class FeaturesUpdate(ElasticBody, parser="connector_update_features_request"):
    """`PUT /_connector/{id}/_features`: the features, replaced."""

    features: dict[str, Any]


class FilteringUpdate(ElasticBody, parser="connector_update_filtering_request"):
    """The whole `filtering` list, or a new draft (`rules`, `advanced_snippet`)."""

    filtering: list[dict[str, Any]] | None = None
    rules: list[dict[str, Any]] | None = None
    advanced_snippet: dict[str, Any] | None = None


class FilteringValidation(BaseModel):
    """The connector service's verdict on a filtering draft."""

    model_config = ConfigDict(extra="forbid")
    state: Literal["edited", "invalid", "valid"]
    errors: list[dict[str, Any]] = Field(default_factory=list)


class FilteringValidationUpdate(
    ElasticBody, parser="connector_update_filtering_validation_request"
):
    """`PUT /_connector/{id}/_filtering/_validation`."""

    validation: FilteringValidation


class IndexNameUpdate(ElasticBody, parser="connector_update_index_name_request"):
    """`PUT /_connector/{id}/_index_name`: an index no other connector uses, or null."""

    index_name: str | None


class NameUpdate(ElasticBody, parser="connector_update_name_request"):
    """`PUT /_connector/{id}/_name`: the name, the description, or both; not both null."""

    name: str | None = None
    description: str | None = None


class NativeUpdate(ElasticBody, parser="connector_update_native_request"):
    """`PUT /_connector/{id}/_native`."""

    is_native: bool


class Pipeline(BaseModel):
    """The ingest pipeline a connector's documents go through (all four settings)."""

    model_config = ConfigDict(extra="forbid")
    extract_binary_content: bool
    name: str
    reduce_whitespace: bool
    run_ml_inference: bool


class PipelineUpdate(ElasticBody, parser="connector_update_pipeline_request"):
    """`PUT /_connector/{id}/_pipeline`."""

    pipeline: Pipeline


class Schedule(BaseModel):
    """One kind of sync's schedule."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool
    interval: str = Field(description="A Quartz cron expression, e.g. 0 0 0 * * ?")


class Scheduling(BaseModel):
    """The schedules to change; a kind left out keeps its schedule."""

    model_config = ConfigDict(extra="forbid")
    access_control: Schedule | None = None
    full: Schedule | None = None
    incremental: Schedule | None = None


class SchedulingUpdate(ElasticBody, parser="connector_update_scheduling_request"):
    """`PUT /_connector/{id}/_scheduling`."""

    scheduling: Scheduling


class ServiceTypeUpdate(ElasticBody, parser="connector_update_service_type_request"):
    """`PUT /_connector/{id}/_service_type`: a new type needs configuring again."""

    service_type: str


class StatusUpdate(ElasticBody, parser="connector_update_status_request"):
    """`PUT /_connector/{id}/_status`: only along Elastic's connector state machine."""

    status: ConnectorStatus


class LastSyncUpdate(ElasticBody, parser="connector_update_last_sync_stats_request"):
    """`PUT /_connector/{id}/_last_sync`: what a connector service reports after a sync."""

    last_access_control_sync_error: str | None = None
    last_access_control_sync_scheduled_at: dt.datetime | None = None
    last_access_control_sync_status: str | None = None
    last_deleted_document_count: int | None = None
    last_incremental_sync_scheduled_at: dt.datetime | None = None
    last_indexed_document_count: int | None = None
    last_seen: dt.datetime | None = None
    last_sync_error: str | None = None
    last_sync_scheduled_at: dt.datetime | None = None
    last_sync_status: str | None = None
    last_synced: dt.datetime | None = None
    sync_cursor: Any = None
