"""Folding a stretch of whole transactions into what the destination must do, per table.

Within one batch only the last state of each key matters: a row inserted, updated twice
and deleted is one delete; a key changed from 1 to 2 is a delete of 1 and the row of 2.
Upserts and deletes of a table are disjoint, so the destination applies a TRUNCATE seen
in the batch first, then the deletes, then the upserts, in one transaction — the same
end state as replaying every change in commit order. Rows are kept by column name, so a
table whose columns changed mid-batch (a new Relation message) still folds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from conveyor.engine.cdc.pgoutput import UNCHANGED, Begin, Change, Commit, Relation, Truncate, Value
from conveyor.errors import DataError

__all__ = ["Batch", "TableChanges"]

Row = dict[str, Value]
Key = tuple[Value, ...]


@dataclass
class TableChanges:
    """A table's pending work: truncate?, then deletes by key, then upserts of whole rows
    (a value `UNCHANGED` where the source did not send a TOASTed value)."""

    relation: Relation
    keys: tuple[str, ...]
    truncated: bool = False
    deletes: dict[Key, Row] = field(default_factory=dict)
    upserts: dict[Key, Row] = field(default_factory=dict)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def key_of(self, row: Row) -> Key:
        return tuple(row.get(k) for k in self.keys)

    def columns(self) -> dict[str, int]:
        """Every column the batch's rows may carry, with its type OID."""
        return {c.name: c.type_oid for c in self.relation.columns}


@dataclass
class Batch:
    """Decoded messages folded per table, with the positions they reach."""

    keys_of: dict[str, tuple[str, ...]]
    """The key columns of each watched table (`schema.name`), chosen before streaming."""
    relations: dict[int, Relation] = field(default_factory=dict)
    tables: dict[int, TableChanges] = field(default_factory=dict)
    transactions: int = 0
    end_lsn: int | None = None
    """Where the stream goes on after the last whole transaction folded."""
    committed_at: dt.datetime | None = None

    def fold(
        self, messages: Iterable[Relation | Begin | Commit | Change | Truncate | None]
    ) -> None:
        """Fold decoded messages (whole transactions, in commit order) into the batch."""
        for message in messages:
            if isinstance(message, Relation):
                self.relations[message.oid] = message
                if message.oid in self.tables:
                    self.tables[message.oid].relation = message
            elif isinstance(message, Change):
                self._change(message)
            elif isinstance(message, Truncate):
                for oid in message.relations:
                    table = self._table(oid)
                    table.truncated, table.deletes, table.upserts = True, {}, {}
            elif isinstance(message, Commit):
                self.transactions += 1
                self.end_lsn, self.committed_at = message.end_lsn, message.committed_at

    def _table(self, oid: int) -> TableChanges:
        found = self.tables.get(oid)
        if found is None:
            relation = self.relations.get(oid)
            if relation is None:
                raise DataError(f"pgoutput: a change of relation {oid} came before its description")
            name = f"{relation.schema}.{relation.name}"
            keys = self.keys_of.get(name) or tuple(c.name for c in relation.columns if c.key)
            if not keys:
                raise DataError(f"{name}: changes carry no key (see REPLICA IDENTITY)")
            found = self.tables[oid] = TableChanges(relation, keys)
        return found

    def _change(self, change: Change) -> None:
        table = self._table(change.relation)
        names = table.relation.names
        old = dict(zip(names, change.old, strict=True)) if change.old is not None else None
        new = dict(zip(names, change.new, strict=True)) if change.new is not None else None
        if change.kind == "D":
            assert old is not None
            key = table.key_of(old)
            table.upserts.pop(key, None)
            table.deletes[key] = old
            table.deleted += 1
            return
        assert new is not None
        key = table.key_of(new)
        if change.kind == "I":
            table.inserted += 1
        else:
            table.updated += 1
            moved = None
            if old is not None and (old_key := table.key_of(old)) != key:
                moved = table.upserts.pop(old_key, None)
                table.deletes[old_key] = old
            # An untouched TOASTed value is known from this batch's earlier image of the
            # row (under its old key, when the key changed), or from the old row itself
            # (REPLICA IDENTITY FULL); else the destination keeps its own.
            earlier = table.upserts.get(key) or moved or (old if change.old_full else None)
            if earlier is not None:
                new = {
                    n: earlier.get(n, UNCHANGED) if v is UNCHANGED else v for n, v in new.items()
                }
        table.deletes.pop(key, None)
        table.upserts[key] = new
