"""CData job bodies, v1 and v2, translated into the native job fields.

Both CData APIs describe a job with the same settings under different spellings —
`TruncateTableData` (v1), `Truncate_Table_Data` (v2 docs), `truncate_table_data` (v2
examples) — which compare equal once case, `_` and `-` are ignored (`canonical`). So one
table serves both; only the few settings whose shape differs are handled one by one:
connections (a name in v1, `{Id, Name}` or `source_connection_id` in v2), the schedule
(`Scheduled`/`ScheduledCron` vs `Schedule {Enabled, Cron}`), the job type (a name or
CData's number), and the queries (`Query#1…` vs `Queries`). A key that means nothing here
is refused with 400, never silently dropped.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from conveyor.compat.cdata.bodies import Fields, canonical, to_bool, to_int, to_text
from conveyor.domain import DeletionBehavior, JobType
from conveyor.errors import InvalidInput, NotFound
from conveyor.schemas.jobs import JobCreate, JobFields, JobOut
from conveyor.services import connections
from conveyor.services.context import Context

JOB_TYPE_NUMBERS = {
    1: JobType.standard,
    2: JobType.sync_all,
    3: JobType.load_folder,
    7: JobType.change_data_capture,
    10: JobType.reverse_etl,
}
"""CData's job type numbers, in the order of its names (the issue's decision)."""
JOB_TYPE_NAMES = {
    JobType.standard: "Standard",
    JobType.sync_all: "SyncAll",
    JobType.load_folder: "LoadFolder",
    JobType.change_data_capture: "ChangeDataCapture",
    JobType.reverse_etl: "ReverseETL",
}
JOB_TYPE_ALIASES = {
    "ReplicateAll": JobType.sync_all,
    "EnhancedChangeDataCapture": JobType.change_data_capture,
}
"""Other names CData's clients give a job type (the public MCP client's `ReplicateAll`,
and its enhanced change data capture)."""
DELETION_NAMES = {
    DeletionBehavior.hard_delete: "HardDelete",
    DeletionBehavior.soft_delete: "SoftDelete",
    DeletionBehavior.skip_delete: "SkipDelete",
}

# native field: the CData spellings besides the native one (compared canonically)
BOOLEANS: dict[str, tuple[str, ...]] = {
    "truncate_table_data": (),
    "drop_table": (),
    "alter_schema": (),
    "auto_truncate_strings": (),
    "continue_on_error": (),
    "use_gmt_datetime": (),
    "history_mode": (),
    "enable_parallel_processing": (),
    "send_email": ("SendEmailNotification",),
    "email_error_only": (),
}
INTEGERS: dict[str, tuple[str, ...]] = {
    "batch_size": (),
    "worker_pool": (),
    "replicate_interval": (),
    "command_timeout": (),
    "verbosity": (),
    "max_attempts": (),
    "priority": (),
}
TEXTS: dict[str, tuple[str, ...]] = {
    "destination_schema": (),
    "table_name_prefix": (),
    "replicate_start_date": (),
    "email_subject": ("NotifyEmailSubject",),
    "pipeline_id": (),
    "external_key": (),
}
LOWERED: dict[str, tuple[str, ...]] = {"replicate_interval_unit": (), "export_format": ()}
LISTS: dict[str, tuple[str, ...]] = {
    "email_to": ("NotifyEmailTo",),
    "labels": (),
    "incremental_check_columns": (),
}
IGNORED_WHEN_EMPTY = ("NotifyWindowsEvent", "OtherCacheOptions", "CacheSchema")
"""CData settings with no Conveyor meaning (Windows event log, caching): accepted only
when they ask for nothing, refused otherwise."""


def job_fields(job: JobOut) -> JobFields:
    """What a shown job is made of: the fields a CData body changes."""
    return JobFields.model_validate(job.model_dump(include=set(JobFields.model_fields)))


def split_list(value: Any) -> list[str]:
    """`"a, b; c"` (how CData sends lists) as `["a", "b", "c"]`."""
    return [part.strip() for part in re.split(r"[,;]", to_text(value)) if part.strip()]


def job_type(value: Any, field: str) -> str:
    """A job type from CData's name (`SyncAll`, or an alias: `ReplicateAll`), its number
    (`2`) or the native name."""
    text = to_text(value)
    if text.isdigit():
        number = int(text)
        if number not in JOB_TYPE_NUMBERS:
            known = ", ".join(f"{n} ({JOB_TYPE_NAMES[t]})" for n, t in JOB_TYPE_NUMBERS.items())
            raise InvalidInput(f"{field}: unknown job type {number}; use {known}", field=field)
        return JOB_TYPE_NUMBERS[number].value
    for kind, name in JOB_TYPE_NAMES.items():
        if canonical(text) in (canonical(name), canonical(kind.value)):
            return kind.value
    for alias, kind in JOB_TYPE_ALIASES.items():
        if canonical(text) == canonical(alias):
            return kind.value
    names = ", ".join(JOB_TYPE_NAMES.values())
    raise InvalidInput(f"{field}: unknown job type {text!r}; use {names}", field=field)


def deletion_behavior(value: Any, field: str) -> str:
    """`HardDelete`, `SoftDelete` or `SkipDelete` (or the native names)."""
    for kind, name in DELETION_NAMES.items():
        if canonical(to_text(value)) in (canonical(name), canonical(kind.value)):
            return kind.value
    names = ", ".join(DELETION_NAMES.values())
    raise InvalidInput(f"{field}: unknown deletion behavior {value!r}; use {names}", field=field)


def _connection(ctx: Context, value: Any, field: str, workspace_id: str) -> str | None:
    """A connection id from a name, an id, or a v2 `{Id, Name}` object."""
    if value in (None, ""):
        return None
    keys = [value] if not isinstance(value, dict) else []
    if isinstance(value, dict):
        nested = Fields(value)
        keys = [k for k in (nested.get("Id"), nested.get("Name")) if k not in (None, "")]
    for key in keys:
        try:
            return connections.ref(ctx, to_text(key), workspace_id).id
        except NotFound:
            continue
    raise InvalidInput(f"{field}: connection {value!r} not found", field=field)


def _event(value: Any, field: str) -> dict[str, Any] | None:
    """A pre/post job event: Conveyor's are HTTP hooks, so a URL or `{Url, Secret, Timeout}`."""
    if value in (None, ""):
        return None
    if isinstance(value, dict):
        nested = Fields(value)
        event = {"url": nested.get("Url"), "secret": nested.get("Secret")}
        if (timeout := nested.get("Timeout")) is not None:
            event["timeout"] = float(timeout)
        return event
    text = to_text(value)
    if not text.lower().startswith(("http://", "https://")):
        raise InvalidInput(
            f"{field}: job events are HTTP hooks here: send the URL to call, not code",
            field=field,
        )
    return {"url": text}


CDC_SETTINGS = {"Name": "name", "Schema": "schema", "Continuous": "continuous"}
CDC_SETTINGS_NUMBERS = {"FlushInterval": "flush_interval"}


def _cdc_settings(value: Any, field: str) -> dict[str, Any] | None:
    """`CDC_Engine_Settings` `{Name, Schema, Continuous, Flush_Interval}` (any spelling); a
    key that means nothing here is refused, as in the rest of the body."""
    if value in (None, ""):
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field}: an object {{Name, Continuous, FlushInterval}}", field=field)
    nested = Fields(value)
    known = {canonical(k) for k in (*CDC_SETTINGS, *CDC_SETTINGS_NUMBERS)}
    for key in value:
        if canonical(key) not in known:
            raise InvalidInput(f"{field}: unknown setting {key!r}", field=field)
    settings: dict[str, Any] = {
        native: nested.get(name) for name, native in CDC_SETTINGS.items() if nested.has(name)
    }
    if "continuous" in settings:
        settings["continuous"] = to_bool(settings["continuous"], f"{field}.Continuous")
    for name, native in CDC_SETTINGS_NUMBERS.items():
        if nested.has(name):
            settings[native] = nested.get(name)
    return settings


class JobBody:
    """A CData job body being translated; `origin` maps each native field to the key sent."""

    def __init__(self, ctx: Context, fields: Fields, workspace_id: str) -> None:
        self.ctx, self.fields, self.workspace_id = ctx, fields, workspace_id
        self.changes: dict[str, Any] = {}
        self.origin: dict[str, str] = {}

    def take(self, native: str, *aliases: str) -> Any:
        names = (native, *aliases)
        if not self.fields.has(*names):
            return None
        self.origin[native] = self.fields.key(*names)
        return self.fields.get(*names)

    def set(self, native: str, value: Any) -> None:
        self.changes[native] = value

    def translate(self, current: JobFields | None) -> tuple[dict[str, Any], list[str]]:
        """The native changes and the queries (`Queries`, or `Query#1…`) of the body."""
        fields = self.fields
        if (name := self.take("name", "JobName")) is not None:
            self.set("name", to_text(name))
        if (kind := self.take("type")) not in (None, ""):
            self.set("type", job_type(kind, self.origin["type"]))
        connection_keys: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("source_connection_id", ("Source-Connection", "Source")),
            ("destination_connection_id", ("Destination-Connection", "Destination")),
        )
        for native, aliases in connection_keys:
            if fields.has(native, *aliases):
                value = self.take(native, *aliases)
                self.set(
                    native, _connection(self.ctx, value, self.origin[native], self.workspace_id)
                )
        self._schedule(current)
        for table, convert in (
            (BOOLEANS, to_bool),
            (INTEGERS, to_int),
            (TEXTS, lambda v, _f: to_text(v) or None),
            (LOWERED, lambda v, _f: to_text(v).lower() or None),
            (LISTS, lambda v, _f: v if isinstance(v, list) else split_list(v)),
        ):
            for native, aliases in table.items():
                if (value := self.take(native, *aliases)) is not None:
                    self.set(native, convert(value, self.origin[native]))
        if "table_name_prefix" in self.changes and self.changes["table_name_prefix"] is None:
            self.changes["table_name_prefix"] = ""
        if "email_subject" in self.changes and self.changes["email_subject"] is None:
            self.changes["email_subject"] = ""
        if (value := self.take("deletion_behavior")) not in (None, ""):
            self.set(
                "deletion_behavior", deletion_behavior(value, self.origin["deletion_behavior"])
            )
        if (value := self.take("skip_deleted")) is not None and to_bool(value, "SkipDeleted"):
            self.set("deletion_behavior", DeletionBehavior.skip_delete.value)
        for native, alias in (("pre_job_event", "PreJob"), ("post_job_event", "PostJob")):
            if fields.has(native, alias):
                aliases = (alias,)
                self.set(native, _event(self.take(native, *aliases), self.origin[native]))
        if fields.has("cdc_engine_settings"):
            value = self.take("cdc_engine_settings")
            self.set(
                "cdc_engine_settings", _cdc_settings(value, self.origin["cdc_engine_settings"])
            )
        for name in IGNORED_WHEN_EMPTY:
            value = fields.get(name)
            if value not in (None, "", False, "false", "False", "FALSE"):
                raise InvalidInput(f"{name} is not supported by Conveyor", field=name)
        queries = fields.get("Queries") or fields.numbered("Query")
        if isinstance(queries, str):
            queries = [queries]
        return self.changes, [to_text(q) for q in queries]

    def _schedule(self, current: JobFields | None) -> None:
        fields = self.fields
        schedule = (
            dict(current.schedule.model_dump()) if current else {"enabled": False, "cron": ""}
        )
        touched = False
        nested = fields.get("Schedule")
        if isinstance(nested, dict):
            inner = Fields(nested)
            if inner.has("Enabled"):
                schedule["enabled"] = to_bool(inner.get("Enabled"), "Schedule.Enabled")
            if inner.has("Cron"):
                schedule["cron"] = to_text(inner.get("Cron"))
            touched = True
        elif nested is not None:
            schedule["enabled"] = to_bool(nested, "Schedule")
            touched = True
        if fields.has("Scheduled"):
            schedule["enabled"] = to_bool(fields.get("Scheduled"), "Scheduled")
            touched = True
        if fields.has("ScheduledCron", "Cron"):
            schedule["cron"] = to_text(fields.get("ScheduledCron", "Cron"))
            if not schedule["cron"] and not touched:
                schedule["enabled"] = False  # an empty cron alone clears the schedule
            touched = True
        if touched:
            self.origin["schedule"] = fields.key("Schedule", "Scheduled", "ScheduledCron", "Cron")
            self.set("schedule", schedule)

    def new_job(self) -> JobCreate:
        """The job the body describes, with its queries; a key not understood is a 400."""
        changes, queries = self.translate(None)
        self.fields.refuse_unknown()
        try:
            return JobCreate.model_validate(
                {**changes, "workspace_id": self.workspace_id, "queries": queries}
            )
        except ValidationError as exc:
            raise self.invalid(exc) from exc

    def changes_to(self, current: JobFields, queries: tuple[str, str]) -> dict[str, Any]:
        """What the body changes in a job, checked whole before the service does, so that an
        error names the key the client sent; `queries` (a field, where they change
        instead) refuses queries, which change through tasks."""
        changes, sent = self.translate(current)
        self.fields.refuse_unknown()
        if sent:
            field, where = queries
            raise InvalidInput(f"change a job's queries through {where}", field=field)
        try:
            JobFields.model_validate({**current.model_dump(), **changes})
        except ValidationError as exc:
            raise self.invalid(exc) from exc
        return changes

    def invalid(self, exc: ValidationError) -> InvalidInput:
        """A pydantic error, reworded with the key the client sent."""
        first = exc.errors()[0]
        native = str(first["loc"][0]) if first["loc"] else ""
        sent = self.origin.get(native, native)
        message = f"{sent}: {first['msg']}" if sent else str(first["msg"])
        return InvalidInput(message, field=sent or None)
