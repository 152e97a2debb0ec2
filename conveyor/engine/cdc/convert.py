"""Changed rows, as text from the log, into Arrow with the full load's exact types.

pgoutput sends each value in its text form. Rather than parse every PostgreSQL type
again, the rows are handed back to the source as one query — `CAST(r->>i AS <the
column's declared type>)` over a JSON array of the rows — wrapped in the task's own
SELECT, and read through the connector's ordinary reader: a changed row gets exactly the
types (and the task's mapping) a full load would give it. The task's WHERE becomes a column saying
whether the row still belongs to the task; a row that left it is deleted downstream.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from conveyor.connectors.base import Readable
from conveyor.engine.cdc.changes import Row
from conveyor.engine.cdc.pgoutput import UNCHANGED
from conveyor.engine.planner import TaskPlan
from conveyor.errors import ConfigurationError

__all__ = ["MATCH", "Converter", "key_names", "matches", "over_changed_rows", "split"]

DIALECT = "postgres"
MATCH = "_conveyor_cdc_match"
_ROWS = "_conveyor_cdc_rows"
_PLACEHOLDER = "_conveyor_cdc_changed_rows_"
"""Stands for the changed rows' subquery in the task's query until its text is written."""


def _values(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """The rows' texts, in column order, as a JSON array of arrays shipped in base64 (no
    quote or backslash for any parser to escape, and one token for sqlglot to read however
    many rows), unpacked by the server: `jsonb_array_elements(…) AS rows(r)` (jsonb: each
    row parsed once, where `json`'s `->>` scans the row's text again for every column)."""
    data = json.dumps([[row.get(c) for c in columns] for row in rows], ensure_ascii=False)
    packed = base64.b64encode(data.encode()).decode()
    document = f"convert_from(decode('{packed}', 'base64'), 'UTF8')::jsonb"
    return f"jsonb_array_elements({document}) AS {_ROWS}(r)"


def key_names(plan: TaskPlan, keys: Sequence[str]) -> dict[str, str]:
    """Each source key column's name in the task's rows (its alias in the SELECT)."""
    select = plan.statement.select
    if select is None:
        return {k: k for k in keys}
    found: dict[str, str] = {}
    for projection in select.expressions:
        inner = projection.unalias() if isinstance(projection, exp.Alias) else projection
        if isinstance(inner, exp.Column) and inner.name in keys:
            found.setdefault(inner.name, projection.alias_or_name)
        if isinstance(inner, exp.Star):
            found.update({k: k for k in keys if k not in found})
    missing = [k for k in keys if k not in found]
    if missing:
        raise ConfigurationError(
            f"{plan.target}: change data capture merges by the source's key, so the "
            f"task must select the column(s) {', '.join(missing)}"
        )
    return found


@dataclass
class Converter:
    """Turns one table's changed rows into the task's rows (and their keys)."""

    plan: TaskPlan
    source: Readable
    types: dict[str, str]
    """Each source column's declared type (`format_type`), from the Relation message."""
    keys: tuple[str, ...]
    """The source key columns."""

    def key_names(self) -> dict[str, str]:
        """Each source key column's name in the task's rows (its alias in the SELECT)."""
        return key_names(self.plan, self.keys)

    def _inner(self, rows: Sequence[Row], present: Sequence[str], nulls: Sequence[str]) -> str:
        casts = [
            f"CAST(r->>{i} AS {self.types[c]}) AS {exp.to_identifier(c, quoted=True).sql(DIALECT)}"
            for i, c in enumerate(present)
        ]
        casts += [
            f"CAST(NULL AS {self.types[c]}) AS {exp.to_identifier(c, quoted=True).sql(DIALECT)}"
            for c in nulls
        ]
        # Values are base64 (`_values`), names quoted by sqlglot, types the server's own
        # `format_type`: text assembly here is far faster than building sqlglot's tree.
        return f"SELECT {', '.join(casts)} FROM {_values(rows, present)}"  # noqa: S608

    def _read(self, query: str) -> pa.Table:
        return self.source.read(query, 65_536).read_all()

    def rows(self, rows: Sequence[Row]) -> pa.Table:
        """The task's rows for changed source rows that all carry the same columns (the
        same TOASTed values unchanged): columns computed from an unchanged value are left
        out, so the destination keeps its own; `MATCH` says whether a row passes the WHERE."""
        unchanged = [c for c in self.types if rows[0].get(c, UNCHANGED) is UNCHANGED]
        present = [c for c in self.types if c not in unchanged]
        # The rows go in after the task's query is written by sqlglot.
        query, where = over_changed_rows(self.plan, exp.to_table(_PLACEHOLDER))
        if unchanged:
            kept = [
                p
                for p in query.expressions
                if not {c.name for c in p.find_all(exp.Column)} & set(unchanged)
                and not isinstance(p, exp.Star)
            ]
            if any(isinstance(p, exp.Star) for p in query.expressions):
                kept = [exp.column(exp.to_identifier(c, quoted=True)) for c in present] + kept
            query.set("expressions", kept)
        if where is not None and not {c.name for c in where.find_all(exp.Column)} & set(unchanged):
            query.select(matches(where), copy=False)
        text = query.sql(dialect=DIALECT)
        inner = f"({self._inner(rows, present, unchanged)})"
        return self._read(text.replace(_PLACEHOLDER, inner, 1))

    def deleted_keys(self, rows: Sequence[Row]) -> pa.Table:
        """The task's key columns of deleted source rows."""
        names = self.key_names()
        inner = self._inner(rows, list(self.keys), [])
        outer = ", ".join(
            f"{exp.to_identifier(k, quoted=True).sql(DIALECT)} AS "
            f"{exp.to_identifier(names[k], quoted=True).sql(DIALECT)}"
            for k in self.keys
        )
        return self._read(f"SELECT {outer} FROM ({inner}) AS {_ROWS}_keys")  # noqa: S608


def over_changed_rows(
    plan: TaskPlan, rows: exp.Expression, quote_alias: bool = False
) -> tuple[exp.Select, exp.Expression | None]:
    """The task's query over `rows` (the changed rows, standing in for its source table
    under the table's alias), and its WHERE, taken out: a change that leaves the filter
    is a delete, so each row's match is selected (`matches`) rather than filtered."""
    query = plan.statement.source_query()
    assert isinstance(query, exp.Select)
    where = query.args.get("where")
    query.set("where", None)
    source = next(iter(query.find_all(exp.Table)))
    source.replace(rows.as_(exp.to_identifier(source.alias_or_name, quoted=quote_alias)))
    return query, where


def matches(where: exp.Expression) -> exp.Alias:
    """Whether a row passes the task's WHERE, as the `MATCH` column (NULL counts as no)."""
    return exp.Alias(
        this=exp.func("coalesce", exp.paren(where.this), exp.false()),
        alias=exp.to_identifier(MATCH),
    )


def split(table: pa.Table, keys: Sequence[str]) -> tuple[pa.Table, pa.Table]:
    """Rows that pass the task's WHERE, and the keys of those that do not (to delete)."""
    if MATCH not in table.column_names:
        return table, table.select(list(keys)).slice(0, 0)
    mask = table.column(MATCH)
    kept = table.filter(mask).drop_columns([MATCH])
    gone = table.filter(pc.invert(mask)).select(list(keys))
    return kept, gone
