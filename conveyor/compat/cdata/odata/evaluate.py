"""Evaluating parsed `$filter` expressions over one row, with OData's null semantics.

Comparisons are lenient where CData clients are: a boolean compares equal to the strings
`"true"`/`"True"`, a number to its digits, a datetime to an ISO string — CData's own
clients send all of those, and the facade's rows keep typed values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from conveyor.compat.cdata.odata.expressions import (
    VALUE_FUNCTIONS,
    Compare,
    Expr,
    In,
    Literal,
    Logical,
    Not,
    Property,
    parse_datetime,
)


def evaluate(expr: Expr, row: Mapping[str, Any]) -> Any:
    """The value of an expression for one row; a comparison with a null is false."""
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Property):
        return row.get(expr.name)
    if isinstance(expr, Logical):
        terms = (evaluate(term, row) is True for term in chain(expr))
        return all(terms) if expr.op == "and" else any(terms)
    if isinstance(expr, Not):
        return evaluate(expr.operand, row) is not True
    if isinstance(expr, Compare):
        return compare(expr.op, evaluate(expr.left, row), evaluate(expr.right, row))
    if isinstance(expr, In):
        value = evaluate(expr.left, row)
        return any(compare("eq", value, evaluate(option, row)) for option in expr.values)
    return call(expr.function, [evaluate(arg, row) for arg in expr.args])


def chain(expr: Logical) -> list[Expr]:
    """The terms of `a or b or c`, which parses as `((a or b) or c)`, found without recursion.

    A chain is as long as the URL allows (a thousand terms and more); walking it by
    recursion would exhaust the stack, while parentheses, the only other nesting, are
    bounded by the parser.
    """
    terms: list[Expr] = []
    node: Expr = expr
    while isinstance(node, Logical) and node.op == expr.op:
        terms.append(node.right)
        node = node.left
    terms.append(node)
    terms.reverse()
    return terms


def call(function: str, args: list[Any]) -> Any:
    """A function of `FUNCTIONS` over its arguments' values: a text function of null is
    null, a test with a null is false (`sql` answers with it where all are literals)."""
    if function in VALUE_FUNCTIONS:
        text = args[0]
        if text is None:
            return None
        text = as_text(text)
        if function == "length":
            return len(text)
        return (
            text.lower()
            if function == "tolower"
            else text.upper()
            if function == "toupper"
            else text.strip()
        )
    if function == "substringof":  # OData 2: substringof(needle, haystack)
        args = [args[1], args[0]]
    haystack, needle = args
    if haystack is None or needle is None:
        return False
    haystack, needle = as_text(haystack), as_text(needle)
    if function == "contains" or function == "substringof":
        return needle in haystack
    if function == "startswith":
        return haystack.startswith(needle)
    return haystack.endswith(needle)


def as_text(value: Any) -> str:
    """A value as the text functions read it: `true`/`false`, a datetime in ISO form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _aligned(left: Any, right: Any) -> tuple[Any, Any]:
    """Bring two values to one type where a CData client would expect them to compare."""
    for first, second, swap in ((left, right, False), (right, left, True)):
        converted: Any = None
        if isinstance(first, bool) and isinstance(second, str):
            if second.lower() in ("true", "false"):
                converted = second.lower() == "true"
        elif isinstance(first, int | float) and not isinstance(first, bool):
            if isinstance(second, str):
                try:
                    converted = float(second) if re.search(r"[.eE]", second) else int(second)
                except ValueError:
                    converted = None
        elif isinstance(first, dt.datetime) and isinstance(second, str):
            converted = parse_datetime(second)
        if converted is not None:
            return (converted, first) if swap else (first, converted)
    return left, right


def compare(op: str, left: Any, right: Any) -> bool:
    """OData comparison semantics: null equals only null; ordering with null is false."""
    if left is None or right is None:
        if op == "eq":
            return left is None and right is None
        if op == "ne":
            return not (left is None and right is None)
        return False
    left, right = _aligned(left, right)
    try:
        if op == "eq":
            return bool(left == right)
        if op == "ne":
            return bool(left != right)
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return op == "ne"


def equalities(expr: Expr | None) -> dict[str, Any]:
    """`Prop eq literal` terms joined by `and` at the top: safe to push down to a service."""
    if expr is None:
        return {}
    if isinstance(expr, Logical) and expr.op == "and":
        found: dict[str, Any] = {}
        for term in chain(expr):
            found.update(equalities(term))
        return found
    if isinstance(expr, Compare) and expr.op == "eq":
        if isinstance(expr.left, Property) and isinstance(expr.right, Literal):
            return {expr.left.name: expr.right.value}
        if isinstance(expr.right, Property) and isinstance(expr.left, Literal):
            return {expr.right.name: expr.left.value}
    return {}


FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


def conjuncts(expr: Expr | None) -> tuple[list[tuple[str, str, Any]], bool]:
    """The `Prop op literal` and `Prop in (literals)` terms joined by `and` at the top of a
    filter, as (property, op, value), and whether they are the whole filter — so that a
    service may apply it alone, and page in its store, instead of evaluating every row."""
    if expr is None:
        return [], True
    if isinstance(expr, Logical) and expr.op == "and":
        left, left_whole = conjuncts(expr.left)
        right, right_whole = conjuncts(expr.right)
        return left + right, left_whole and right_whole
    if isinstance(expr, Compare):
        if isinstance(expr.left, Property) and isinstance(expr.right, Literal):
            return [(expr.left.name, expr.op, expr.right.value)], True
        if isinstance(expr.right, Property) and isinstance(expr.left, Literal):
            return [(expr.right.name, FLIPPED[expr.op], expr.left.value)], True
    if (
        isinstance(expr, In)
        and isinstance(expr.left, Property)
        and all(isinstance(option, Literal) for option in expr.values)
    ):
        values = tuple(option.value for option in expr.values if isinstance(option, Literal))
        return [(expr.left.name, "in", values)], True
    return [], False
