"""The destination table of a load as the engine knows it, and the layouts it creates.

A load keeps what it learned of its target (whether it exists, its columns and key)
current across windows instead of asking the destination again; the tables it creates —
the target itself, or a staging table — take their layout from the rows' shape and the
load's key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conveyor.connectors.base import (
    ColumnInfo,
    Discoverable,
    ListsUniqueIndexes,
    TableRef,
    TableSchema,
    Writable,
)
from conveyor.engine.decide import Decision, Mode
from conveyor.engine.shape import Shape


@dataclass
class Target:
    """What the engine knows of the destination table, kept current across windows."""

    exists: bool
    columns: dict[str, ColumnInfo]
    unique_indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Unique indexes besides the primary key, where the destination names them."""

    @property
    def keys(self) -> tuple[str, ...]:
        """The destination table's primary key."""
        return tuple(n for n, c in self.columns.items() if c.primary_key)


def target_columns(destination: Writable, table: TableRef) -> dict[str, Any]:
    """The columns of an existing table, when the destination can describe it."""
    if isinstance(destination, Discoverable):
        return {c.name: c for c in destination.columns(table)}
    return {}


def target_unique_indexes(destination: Writable, table: TableRef) -> dict[str, tuple[str, ...]]:
    """The unique indexes of an existing table besides its key, where the destination names
    them (see `ListsUniqueIndexes`: only an upsert that fires on any of them needs them)."""
    if isinstance(destination, ListsUniqueIndexes):
        return destination.unique_indexes(table)
    return {}


def table_layout(shape: Shape, decision: Decision) -> TableSchema:
    """The layout of a target the engine creates: keyed, except in history mode (one key
    has many versions there)."""
    keys = () if shape.history_now is not None else decision.keys
    return TableSchema.from_arrow(shape.schema, keys)


def described(shape: Shape, decision: Decision) -> dict[str, ColumnInfo]:
    """The columns of a target the engine just created from `shape`."""
    keys = set(table_layout(shape, decision).primary_key)
    return {f.name: ColumnInfo(f.name, f.type, primary_key=f.name in keys) for f in shape.schema}


def staging_layout(shape: Shape, decision: Decision) -> TableSchema:
    """The staging table's layout: keyed only when it becomes the target (a full load).

    A staging table that is merged and dropped needs no index (building one cost DuckDB an
    ART over every staged row, written to the file and dropped moments later); its key
    columns stay NOT NULL, since a NULL key would never match its row on the next merge.
    """
    layout = table_layout(shape, decision)
    return layout if decision.mode is Mode.full else TableSchema(layout.columns, ())
