"""OData `$filter` and `$orderby` compiled to SQL, so that the store filters, orders and pages.

An entity set declares its properties' SQL expressions (`Columns`: a column of a service's
model, or an expression over them such as CData's `Status` as a CASE over a run's status);
`compile_query` turns the parsed options into a `listing.Query` the service runs — WHERE,
ORDER BY, LIMIT/OFFSET and a COUNT in the database, never every row read into Python.

The SQL keeps `evaluate`'s semantics, which remain the reference (`evaluate.compare`):

- two-valued logic: a comparison with a null is false (`ne` true), under `not` too — so
  each comparison on a nullable expression carries its own `IS [NOT] NULL` guard;
- lenient literals: a literal is converted to the property's type as `evaluate` aligns
  them (`'true'` for a boolean, `'42'` for a number, an ISO string for a timestamp); one
  that cannot be is equal to nothing and different from everything;
- case-sensitive text functions (`instr`/`strpos`, `substr`; never SQLite's
  case-insensitive LIKE);
- ordering with nulls first ascending and last descending.

A property with no SQL expression (a setting inside a JSON document, say) is refused
with a 400 naming it, as is a text function over a property that is not text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from conveyor.compat.cdata.odata import expressions
from conveyor.compat.cdata.odata.evaluate import FLIPPED, as_text, call, chain, compare
from conveyor.compat.cdata.odata.query import QueryOptions
from conveyor.services import listing

KINDS = (bool, int, float, dt.datetime, str)
BALANCED = 64
"""Terms of an `and`/`or` chain grouped per level: SQLite's parser limits an expression's
depth (1000), so a long chain is nested as a balanced tree of groups of this size."""


@dataclass(frozen=True)
class Column:
    """A property's SQL expression, the Python type of its values, and whether it may be
    null (ordering a non-null one needs no NULLS FIRST/LAST, which would bypass an index)."""

    expr: ColumnElement[Any]
    kind: type = str
    nullable: bool = True
    words: tuple[ColumnElement[Any], Mapping[str, tuple[Any, ...]]] | None = None
    """For a property that renames a column's values (CData's `Status` over a run's
    status): the column and, by word, the values it stands for — so `eq`, `ne` and `in`
    compare the column itself, which its indexes serve."""


Columns = Mapping[str, Column]


def column(
    expr: Any,
    kind: type | None = None,
    *,
    nullable: bool | None = None,
    words: tuple[Any, Mapping[str, tuple[Any, ...]]] | None = None,
) -> Column:
    """A `Column` for a model attribute or an expression; its type and nullability read
    from the column where not given."""
    element: ColumnElement[Any] = expr if isinstance(expr, ColumnElement) else expr.expression
    if kind is None:
        try:
            kind = element.type.python_type
        except NotImplementedError:
            kind = str
        kind = next((k for k in KINDS if issubclass(kind, k)), str)
    if nullable is None:
        nullable = bool(getattr(element, "nullable", True))
    return Column(element, kind, nullable, words)


class _position(FunctionElement[int]):
    """Where `needle` starts in `haystack` (1-based; 0 when absent), case-sensitively."""

    type = Integer()
    inherit_cache = True
    name = "instr"


@compiles(_position)
def _position_default(element: _position, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_position, "postgresql")
def _position_postgresql(element: _position, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@dataclass(frozen=True)
class _Value:
    """One side of a comparison: a SQL expression of a kind, or a literal (`sql` None)."""

    sql: ColumnElement[Any] | None
    kind: type = str
    nullable: bool = True
    literal: Any = None
    name: str = ""
    words: tuple[ColumnElement[Any], Mapping[str, tuple[Any, ...]]] | None = None


class Compiler:
    """Compiles the expressions of one entity set's `$filter`."""

    def __init__(self, columns: Columns, entity: str) -> None:
        self.columns = columns
        self.entity = entity

    def refuse(self, name: str, why: str) -> expressions.QueryOptionError:
        return expressions.QueryOptionError(f"$filter: {name} {why}", option="$filter")

    def condition(self, expr: expressions.Expr) -> ColumnElement[bool]:
        """A two-valued SQL condition true exactly where `evaluate` gives True."""
        if isinstance(expr, expressions.Logical):
            return _balanced(expr.op, [self.condition(term) for term in _merged(expr)])
        if isinstance(expr, expressions.Not):
            return not_(self.condition(expr.operand))
        if isinstance(expr, expressions.Compare):
            return self.compare(expr.op, self.value(expr.left), self.value(expr.right))
        if isinstance(expr, expressions.In):
            return self.member(expr)
        if isinstance(expr, expressions.Call) and expr.function in expressions.VALUE_FUNCTIONS:
            return false()  # a text or a number is never True
        if isinstance(expr, expressions.Call):
            return self.text_test(expr)
        value = self.value(expr)
        if value.sql is None:
            return true() if value.literal is True else false()
        if value.kind is not bool:
            return false()
        return self.guard(value, value.sql == literal(True))

    def value(self, expr: expressions.Expr) -> _Value:
        if isinstance(expr, expressions.Literal):
            return _Value(None, literal=expr.value)
        if isinstance(expr, expressions.Property):
            found = self.columns.get(expr.name)
            if found is None:
                raise self.refuse(expr.name, f"cannot be filtered on in {self.entity}")
            return _Value(found.expr, found.kind, found.nullable, name=expr.name, words=found.words)
        if isinstance(expr, expressions.Call) and expr.function in expressions.VALUE_FUNCTIONS:
            inner = self.value(expr.args[0])
            if inner.sql is None:  # a function of a literal: Python's answer
                return _Value(None, literal=call(expr.function, [inner.literal]))
            self.text_only(inner, expr.function)
            sql = {
                "tolower": func.lower,
                "toupper": func.upper,
                "trim": func.trim,
                "length": func.length,
            }[expr.function](inner.sql)
            kind = int if expr.function == "length" else str
            return _Value(sql, kind, inner.nullable, name=inner.name)
        raise expressions.QueryOptionError(
            "$filter: a condition is compared as a value; compare properties, literals "
            "and tolower/toupper/trim/length",
            option="$filter",
        )

    def text_only(self, value: _Value, function: str) -> None:
        if value.sql is not None and value.kind is not str:
            raise self.refuse(value.name, f"is not text: {function} applies to text properties")

    def guard(self, value: _Value, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """`condition` false (not null) where `value` is null."""
        if value.sql is None or not value.nullable:
            return condition
        return and_(value.sql.is_not(None), condition)

    def compare(self, op: str, left: _Value, right: _Value) -> ColumnElement[bool]:
        if left.sql is None and right.sql is None:
            return true() if compare(op, left.literal, right.literal) else false()
        if left.sql is None:  # the literal on the right
            left, right, op = right, left, FLIPPED[op]
        assert left.sql is not None
        if right.sql is not None:
            return self.compare_columns(op, left, right)
        if right.literal is None:
            if op == "eq":
                return left.sql.is_(None) if left.nullable else false()
            if op == "ne":
                return left.sql.is_not(None) if left.nullable else true()
            return false()
        converted = _aligned(left.kind, right.literal)
        if converted is _INCOMPARABLE:
            return true() if op == "ne" else false()
        if left.words is not None and op in ("eq", "ne"):
            source, meaning = left.words
            stands_for = meaning.get(converted, ())
            found = source.in_(stands_for) if stands_for else false()
            return found if op == "eq" else not_(found)
        if op == "ne":
            different = left.sql != converted
            return or_(left.sql.is_(None), different) if left.nullable else different
        return self.guard(left, _OPERATORS[op](left.sql, converted))

    def compare_columns(self, op: str, left: _Value, right: _Value) -> ColumnElement[bool]:
        assert left.sql is not None and right.sql is not None
        both = and_(self.guard(left, true()), self.guard(right, true()))
        if op in ("eq", "ne"):
            same = or_(
                and_(left.sql.is_(None), right.sql.is_(None)),
                and_(both, left.sql == right.sql),
            )
            return same if op == "eq" else not_(same)
        return and_(both, _OPERATORS[op](left.sql, right.sql))

    def member(self, expr: expressions.In) -> ColumnElement[bool]:
        left = self.value(expr.left)
        options = [self.value(option) for option in expr.values]
        if left.sql is None or any(option.sql is not None for option in options):
            return _balanced("or", [self.compare("eq", left, option) for option in options])
        values = [_aligned(left.kind, option.literal) for option in options]
        kept = [v for v in values if v is not _INCOMPARABLE and v is not None]
        if left.words is not None:
            source, meaning = left.words
            natives = [native for word in kept for native in meaning.get(word, ())]
            return source.in_(natives) if natives else false()
        found = self.guard(left, left.sql.in_(kept)) if kept else false()
        if None in values and left.nullable:
            found = or_(found, left.sql.is_(None))
        return found

    def text_test(self, expr: expressions.Call) -> ColumnElement[bool]:
        """contains, startswith, endswith, substringof: false where either side is null."""
        args = [self.value(arg) for arg in expr.args]
        if all(arg.sql is None for arg in args):  # a test of literals: Python's answer
            return true() if call(expr.function, [arg.literal for arg in args]) else false()
        haystack, needle = args
        if expr.function == "substringof":  # OData 2: substringof(needle, haystack)
            haystack, needle = needle, haystack
        for side in (haystack, needle):
            self.text_only(side, expr.function)
        if haystack.literal is None and haystack.sql is None:
            return false()
        if needle.literal is None and needle.sql is None:
            return false()
        hay = haystack.sql if haystack.sql is not None else literal(as_text(haystack.literal))
        pin = needle.sql if needle.sql is not None else literal(as_text(needle.literal))
        if expr.function in ("contains", "substringof"):
            test = _position(hay, pin) > 0
        elif expr.function == "startswith":
            test = func.substr(hay, 1, func.length(pin)) == pin
        else:
            start = func.length(hay) - func.length(pin) + 1
            test = and_(func.length(hay) >= func.length(pin), func.substr(hay, start) == pin)
        return self.guard(needle, self.guard(haystack, test))


_OPERATORS = {
    "eq": lambda a, b: a == b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
_INCOMPARABLE = object()


def _aligned(kind: type, value: Any) -> Any:
    """A literal as a value of `kind`, as `evaluate` aligns them; `_INCOMPARABLE` when it
    equals nothing of that kind."""
    if value is None:
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, int | float):
            return value  # True == 1, as Python compares them
        return _INCOMPARABLE
    if kind in (int, float):
        number: Any = value
        if isinstance(value, str):
            try:
                number = float(value) if re.search(r"[.eE]", value) else int(value)
            except ValueError:
                return _INCOMPARABLE
        elif not isinstance(value, int | float):
            return _INCOMPARABLE
        if isinstance(number, int) and not -(2**63) <= number < 2**63:
            number = float(number)  # past a database integer: compared as a real
        return number
    if kind is dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            return expressions.parse_datetime(value) or _INCOMPARABLE
        return _INCOMPARABLE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _merged(expr: expressions.Logical) -> list[expressions.Expr]:
    """The terms of a chain, found without recursion (`evaluate.chain`); in an `or`
    chain, `P eq 'a' or P eq 'b'` becomes `P in ('a', 'b')` — one indexable condition."""
    terms = chain(expr)
    if expr.op != "or":
        return terms
    merged: list[expressions.Expr] = []
    options: dict[str, list[expressions.Expr]] = {}
    for term in terms:
        if (
            isinstance(term, expressions.Compare)
            and term.op == "eq"
            and isinstance(term.left, expressions.Property)
            and isinstance(term.right, expressions.Literal)
            and term.right.value is not None
        ):
            if term.left.name not in options:
                options[term.left.name] = []
                merged.append(expressions.In(term.left, (), position=term.position))
            options[term.left.name].append(term.right)
        else:
            merged.append(term)
    return [
        expressions.In(term.left, tuple(options[term.left.name]), position=term.position)
        if isinstance(term, expressions.In)
        and isinstance(term.left, expressions.Property)
        and not term.values
        else term
        for term in merged
    ]


def _balanced(op: str, terms: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """`a op b op …` as nested groups of at most `BALANCED` terms."""
    join = and_ if op == "and" else or_
    if not terms:
        return true() if op == "and" else false()
    while len(terms) > BALANCED:
        terms = [
            Grouping(join(*terms[start : start + BALANCED]))
            for start in range(0, len(terms), BALANCED)
        ]
    return join(*terms) if len(terms) > 1 else terms[0]


def order(
    options: QueryOptions, columns: Columns, entity: str, nulls_explicit: bool
) -> tuple[ColumnElement[Any], ...]:
    """`$orderby` as ORDER BY terms: nulls first ascending, last descending — the order
    SQLite gives; elsewhere (`nulls_explicit`) said so for nullable expressions."""
    terms: list[ColumnElement[Any]] = []
    seen: set[str] = set()
    for name, descending in options.orderby:
        if name in seen:  # a repeat cannot change the order, and databases cap the terms
            continue
        seen.add(name)
        found = columns.get(name)
        if found is None:
            raise expressions.QueryOptionError(
                f"$orderby: {name} cannot be sorted on in {entity}", option="$orderby"
            )
        term = found.expr.desc() if descending else found.expr.asc()
        if nulls_explicit and found.nullable:
            term = term.nulls_last() if descending else term.nulls_first()
        terms.append(term)
    return tuple(terms)


def compile_query(
    options: QueryOptions,
    columns: Columns,
    entity: str,
    dialect: str = "sqlite",
    *,
    count: bool | None = None,
) -> listing.Query:
    """The options as the store runs them (`count` defaults to `$count`)."""
    where = () if options.filter is None else (Compiler(columns, entity).condition(options.filter),)
    return listing.Query(
        where=where,
        order=order(options, columns, entity, dialect != "sqlite"),
        limit=options.top,
        offset=options.skip,
        count=options.count if count is None else count,
    )
