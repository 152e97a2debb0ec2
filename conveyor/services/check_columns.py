"""A task's check column, vetted against the source's columns when the task is saved.

A check column whose type cannot order changes (boolean, binary, JSON, UUID, a time of
day, …) would fail every run; it is refused when the task is saved instead, naming the
column, its type and why (422, problem+json). The source is asked for the columns with
no store transaction open (issue 16): the job is read in a short read unit, the source
is described outside any unit, and only then does the caller open its write unit.

Vetting is a courtesy, not the only guard: a task is saved as it is when its source
cannot be described (no source connection yet, the table not created yet, the source
down, REPLICATE ALL), and runs refuse such a column all the same. A load_folder job
loads each file whole, with no check column, so its statements are not vetted. No connection is
opened when no statement names a check column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors.base import ColumnInfo
from conveyor.domain import EngineSettings, JobType
from conveyor.engine import cursor as cursors
from conveyor.engine.planner import effective_settings
from conveyor.engine.replicate import ReplicateStatement, parse
from conveyor.errors import BadStatement, ConveyorError, InvalidInput
from conveyor.services import connections
from conveyor.services.context import Context, Principal, Units
from conveyor.services.lookup import get
from conveyor.store.models import Job


@dataclass(frozen=True)
class Proposed:
    """A statement about to be saved, and the request field that carries it."""

    field: str
    statement: ReplicateStatement


def to_vet(field: str, query: str) -> list[Proposed]:
    """The statement to vet, if it parses (one that does not is refused by the save itself,
    after the checks that come first: who may save, whether the job exists)."""
    try:
        return [Proposed(field, parse(query))]
    except BadStatement:
        return []


def vet(units: Units, principal: Principal, job_id: str, proposed: Sequence[Proposed]) -> None:
    """Refuse (422 naming the field) a statement of a job whose check column cannot order
    changes, where the job's source can describe the columns; call with no transaction open."""
    with units.unit(principal, read_only=True) as ctx:
        job = get(ctx, Job, job_id, "job")
        settings = EngineSettings.model_validate(job.settings)
        loaded = _source(ctx, job.source_connection_id, job.type, settings, proposed)
    _vet(loaded, settings, proposed)


def vet_new_job(
    units: Units,
    principal: Principal,
    definition: EngineSettings,
    source_connection_id: str | None,
    job_type: str,
    proposed: Sequence[Proposed],
) -> None:
    """`vet` for the statements of a job not created yet (its settings as `definition`)."""
    settings = EngineSettings.model_validate(
        definition.model_dump(include=set(EngineSettings.model_fields))
    )
    with units.unit(principal, read_only=True) as ctx:
        loaded = _source(ctx, source_connection_id, job_type, settings, proposed)
    _vet(loaded, settings, proposed)


def _vet(
    loaded: connections.Target | None, settings: EngineSettings, proposed: Sequence[Proposed]
) -> None:
    if loaded is None:
        return
    for item in proposed:
        if not _candidates(item.statement, settings):
            continue
        columns = _described(loaded, item.statement)
        if columns is not None:
            _check(item, effective_settings(settings, item.statement.options), columns)


def _source(
    ctx: Context,
    connection_id: str | None,
    job_type: str,
    settings: EngineSettings,
    proposed: Sequence[Proposed],
) -> connections.Target | None:
    """The source to ask, loaded in the read unit; None when there is nothing to vet."""
    if connection_id is None or job_type == JobType.load_folder:
        return None
    if not any(_candidates(p.statement, settings) for p in proposed):
        return None  # no check column named: no connection opened
    try:
        return connections.target(ctx, connection_id)
    except ConveyorError:
        return None  # gone, not visible or not the caller's to reach: saving says so


def _candidates(statement: ReplicateStatement, settings: EngineSettings) -> list[str]:
    if statement.replicate_all or statement.source_table is None:
        return []
    return effective_settings(settings, statement.options).incremental_check_columns


def _described(loaded: connections.Target, statement: ReplicateStatement) -> pa.Schema | None:
    """The columns the statement's query returns, as far as the source's catalog tells:
    every column for a plain read or `SELECT *`, the plainly selected ones otherwise."""
    assert statement.source_table is not None
    try:
        with connections.discoverable(loaded) as found:
            table = statement.source_table
            columns: list[ColumnInfo] = found.columns(
                connections.addressed(found, table.name, table.schema)
            )
    except ConveyorError:
        return None  # not describable now (a table to come, the source down): runs check
    by_name = {c.name.lower(): c.field for c in columns}
    select = statement.select
    if select is None:
        return pa.schema(list(by_name.values()))
    fields = list(by_name.values()) if any(e.is_star for e in select.expressions) else []
    for expression in select.expressions:
        if expression.is_star:
            continue
        column = expression.this if isinstance(expression, exp.Alias) else expression
        name = expression.alias_or_name
        if isinstance(column, exp.Column) and column.name.lower() in by_name:
            fields.append(by_name[column.name.lower()].with_name(name))
        else:  # computed: its type is known only when the query runs
            fields.append(pa.field(name, pa.null()))
    return pa.schema(fields)


def _check(item: Proposed, settings: EngineSettings, schema: pa.Schema) -> None:
    by_lower = {name.lower(): name for name in schema.names}
    for candidate in settings.incremental_check_columns:
        name = by_lower.get(candidate.lower())
        if name is None:
            continue
        field = schema.field(name)
        if pa.types.is_null(field.type):
            return  # a computed column: its type is known only when the query runs
        problem = cursors.refusal(name, field) or cursors.window_refusal(name, field, settings)
        if problem is not None:
            raise InvalidInput(
                f"{item.field}: {problem}",
                field=item.field,
                column=name,
                column_type=cursors.type_label(field),
            )
        return
