"""Which mode loads a task this time, decided from settings, state and what exists.

    full      stream into staging, swap it in atomically (first run, a full load, drop_table,
              no check column with hard deletes)
    merge     stream changed rows into staging, then delete+insert by key in one transaction
    append    no key: replace the window at or past the cursor (re-read rows never duplicate)
    history   SCD type 2: end changed versions, insert new ones

Deletes in the source are detected by comparing keys, for merge and history loads, unless
`deletion_behavior` is skip_delete.

A load that reads every row says why (`Decision.reason`), and the run log shows it: a
full load is never a silent surprise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa

from conveyor.domain import DeletionBehavior, EngineSettings, JobType, RunLoad
from conveyor.engine import cursor as cursors
from conveyor.engine.planner import TaskPlan
from conveyor.errors import ConfigurationError


class Mode(StrEnum):
    """How rows reach the destination table."""

    full = "full"
    merge = "merge"
    append = "append"
    history = "history"


@dataclass(frozen=True)
class Decision:
    """The plan of one task's load this run."""

    mode: Mode
    keys: tuple[str, ...]
    check: str | None
    check_type: pa.DataType | None
    lower: Any  # read rows whose check column is at or past this (None: all rows)
    detect_deletes: bool
    rebuild: bool  # (re)create the target empty first: a first or full load done in windows
    reason: str = ""  # why every row is read (a load past a cursor needs no reason)

    @property
    def incremental(self) -> bool:
        """Whether only rows past the cursor are read."""
        return self.lower is not None


def decide(
    plan: TaskPlan,
    schema: pa.Schema,
    source_keys: tuple[str, ...],
    target_exists: bool,
    target_keys: tuple[str, ...],
    state: dict[str, Any],
    load: RunLoad,
    job_type: str,
) -> Decision:
    """Choose the mode, the key, the check column and the lower bound of this load."""
    settings = plan.settings
    check = cursors.choose_check_column(settings.incremental_check_columns, schema)
    check_type = schema.field(check).type if check else None
    keys = tuple(plan.primary_key) or source_keys
    if job_type == JobType.reverse_etl.value:
        keys = keys or target_keys
    missing = [k for k in keys if k not in schema.names]
    if missing:
        raise ConfigurationError(
            f"key column(s) {', '.join(missing)} are not returned by the query"
        )
    cursor = (
        cursors.decode(state.get("cursor"))
        if check and state.get("check_column") == check
        else None
    )
    full_run = load is RunLoad.full or settings.drop_table or not target_exists or cursor is None
    if check is not None and (
        problem := cursors.window_refusal(check, schema.field(check), settings)
    ):
        raise ConfigurationError(problem)
    reason = (
        full_reason(load, settings, check, target_exists, state)
        if full_run or check is None
        else ""
    )
    start = cursors.start_bound(settings, check_type) if check_type is not None else None
    lower = None if full_run else cursor
    lower = cursors.later(lower, start)
    deletes = settings.deletion_behavior is not DeletionBehavior.skip_delete and bool(keys)
    windowed = settings.replicate_interval is not None and check is not None

    if job_type == JobType.reverse_etl.value:
        if not target_exists:
            raise ConfigurationError(
                f"reverse ETL writes into an existing table: {plan.target} does not exist"
            )
        if not keys:
            raise ConfigurationError(
                f"reverse ETL merges by key: declare PRIMARY KEY(...) for {plan.target}"
            )
        return Decision(Mode.merge, keys, check, check_type, lower, False, False, reason)
    if settings.history_mode:
        if not keys:
            raise ConfigurationError(
                f"history mode needs a key: declare PRIMARY KEY(...) for {plan.target}"
            )
        if not target_exists or settings.drop_table:
            return Decision(
                Mode.full if not windowed else Mode.history,
                keys,
                check,
                check_type,
                start,
                False,
                windowed,
                reason,
            )
        return Decision(Mode.history, keys, check, check_type, lower, deletes, False, reason)
    keeps_deleted = settings.deletion_behavior is not DeletionBehavior.hard_delete and keys
    if full_run and not (keeps_deleted and target_exists and not settings.drop_table):
        if windowed:
            return Decision(
                Mode.merge if keys else Mode.append,
                keys,
                check,
                check_type,
                start,
                False,
                True,
                reason,
            )
        return Decision(Mode.full, keys, check, check_type, start, False, False, reason)
    if check is None or full_run:
        # no cursor to go by: merge everything, keeping (or flagging) rows gone from the source
        return Decision(Mode.merge, keys, check, check_type, start, deletes, False, reason)
    if keys:
        return Decision(Mode.merge, keys, check, check_type, lower, deletes, False, reason)
    return Decision(Mode.append, keys, check, check_type, lower, False, False, reason)


def full_reason(
    load: RunLoad,
    settings: EngineSettings,
    check: str | None,
    target_exists: bool,
    state: dict[str, Any],
) -> str:
    """Why this load reads every row, as the run log says it (after "because")."""
    if load is RunLoad.full:
        return "a full load was requested"
    if settings.drop_table:
        return "DropTable is set (the table is recreated on every run)"
    if not target_exists:
        if state.get("cursor") is not None:
            return "the destination table no longer exists (it was dropped since the last run)"
        return "this is the first run (the destination table does not exist yet)"
    candidates = settings.incremental_check_columns
    if check is None and not candidates:
        return "no check column is set (IncrementalCheckColumns)"
    if check is None:
        tried = ", ".join(repr(c) for c in candidates)
        return f"the query returns none of the check columns tried ({tried})"
    previous = state.get("check_column")
    if previous is not None and previous != check:
        return f"the check column changed from {previous!r} to {check!r}"
    return f"no cursor is stored yet (no earlier run loaded a row with a {check!r} value)"
