"""OData 4 `$filter` expressions: a tokenizer and a recursive-descent parser.

CData Sync's v1 API is OData, and its clients filter with expressions such as
`JobName eq 'nightly' and (Status eq 'FAILED' or RecordsAffected gt 1000)`. The facade
builds its rows from the services, so a filter is evaluated over those rows
(`evaluate`) rather than translated to SQL: one evaluator serves every entity set,
computed properties (a job's `Status` comes from its latest run) included. A malformed
expression is refused with the character position of the problem, like a bad REPLICATE
statement.

Supported: `eq ne gt ge lt le`, `and or not`, `in (…)`, parentheses, the functions
`contains startswith endswith substringof tolower toupper trim length`, and string,
number, boolean, `null`, date and datetime literals (bare `2024-01-31T10:00:00Z` or
`datetime'…'`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, dataclass_transform

from conveyor.errors import BadStatement


class QueryOptionError(BadStatement):
    """An OData query option is invalid."""


@dataclass_transform(frozen_default=True)
@dataclass(frozen=True, kw_only=True)
class Node:
    """A node of a parsed expression: an immutable record (each subclass is made a frozen
    dataclass, so a tree can be compared and hashed), carrying where the node starts in the
    text (an operation: where its operator is) so that a problem with it can point there."""

    position: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)


class Literal(Node):
    """A string, number, boolean, `null`, date or datetime written in the expression."""

    value: Any


class Property(Node):
    """A property of the entity, by the entity's spelling (resolved case-insensitively)."""

    name: str


class Call(Node):
    """One of `FUNCTIONS` applied to its arguments."""

    function: str
    args: tuple[Expr, ...]


class Binary(Node):
    """An operator between two operands: what comparisons and `and`/`or` share."""

    op: str
    left: Expr
    right: Expr


class Compare(Binary):
    """`left op right`, `op` one of `COMPARISONS`."""


class In(Node):
    """`left in (values…)`."""

    left: Expr
    values: tuple[Expr, ...]


class Logical(Binary):
    """`left and right` or `left or right` (`op` is `and` or `or`)."""


class Not(Node):
    """`not operand`."""

    operand: Expr


Expr = Literal | Property | Call | Compare | In | Logical | Not

COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
MAX_NESTING = 32
"""Deepest nesting of parentheses, `not` and function calls in a `$filter`: the parser
recurses once per level, so a URL of a few thousand `(` would otherwise exhaust the stack."""
FUNCTIONS: dict[str, int] = {
    "contains": 2,
    "startswith": 2,
    "endswith": 2,
    "substringof": 2,
    "tolower": 1,
    "toupper": 1,
    "trim": 1,
    "length": 1,
}
VALUE_FUNCTIONS = frozenset({"tolower", "toupper", "trim", "length"})
"""The functions that give a value (a text, or its length); the others are tests."""
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<typed>(?:datetime|datetimeoffset|guid)'[^']*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<name>[A-Za-z_$][\w.$]*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


def tokenize(text: str) -> list[Token]:
    """The tokens of an expression; an unknown character is an error at its position."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] == "'":
                raise QueryOptionError(
                    f"$filter: unterminated string at position {position}", position=position
                )
            raise QueryOptionError(
                f"$filter: unexpected character {text[position]!r} at position {position}",
                position=position,
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    return tokens


def parse_datetime(text: str) -> dt.datetime | None:
    """An ISO date or datetime as an aware datetime (UTC when no zone is given), or None."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Parser:
    """Recursive descent over the tokens: or > and > not > comparison > primary."""

    def __init__(self, text: str, resolve: Callable[[str], str | None]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.resolve = resolve
        self.depth = 0

    def error(self, message: str, position: int | None = None) -> QueryOptionError:
        where = len(self.text) if position is None else position
        return QueryOptionError(f"$filter: {message} at position {where}", position=where)

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def keyword(self, *words: str) -> Token | None:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.lower() in words:
            self.index += 1
            return token
        return None

    def at(self, text: str) -> bool:
        """Whether the next token is `text`."""
        token = self.peek()
        return token is not None and token.text == text

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token is None or token.text != text:
            found = "the end" if token is None else repr(token.text)
            raise self.error(f"expected {text!r}, found {found}", token.position if token else None)
        self.index += 1
        return token

    def enter(self, token: Token) -> None:
        """One level deeper (a parenthesis, a `not`, a function's arguments), within bounds."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(
                f"the expression nests deeper than {MAX_NESTING} levels", token.position
            )

    def parse(self) -> Expr:
        if not self.tokens:
            raise self.error("the expression is empty", 0)
        expr = self.disjunction()
        token = self.peek()
        if token is not None:
            raise self.error(f"unexpected {token.text!r}", token.position)
        return expr

    def disjunction(self) -> Expr:
        expr = self.conjunction()
        while token := self.keyword("or"):
            expr = Logical("or", expr, self.conjunction(), position=token.position)
        return expr

    def conjunction(self) -> Expr:
        expr = self.negation()
        while token := self.keyword("and"):
            expr = Logical("and", expr, self.negation(), position=token.position)
        return expr

    def negation(self) -> Expr:
        if token := self.keyword("not"):
            self.enter(token)
            expr = Not(self.negation(), position=token.position)
            self.depth -= 1
            return expr
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.primary()
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.lower() in COMPARISONS:
            self.index += 1
            return Compare(token.text.lower(), left, self.primary(), position=token.position)
        if operator := self.keyword("in"):
            self.expect("(")
            values = [self.primary()]
            while self.at(","):
                self.index += 1
                values.append(self.primary())
            self.expect(")")
            return In(left, tuple(values), position=operator.position)
        return left

    def primary(self) -> Expr:
        token = self.peek()
        if token is None:
            raise self.error("the expression ends too early")
        self.index += 1
        if token.text == "(":
            self.enter(token)
            expr = self.disjunction()
            self.expect(")")
            self.depth -= 1
            return expr
        if token.kind == "string":
            return Literal(token.text[1:-1].replace("''", "'"), position=token.position)
        if token.kind == "number":
            return Literal(self.number(token), position=token.position)
        if token.kind in ("datetime", "typed"):
            raw = token.text.split("'")[1] if token.kind == "typed" else token.text
            if token.text.lower().startswith("guid'"):
                return Literal(raw, position=token.position)
            value = parse_datetime(raw)
            if value is None:
                raise self.error(f"{token.text!r} is not a valid date or time", token.position)
            return Literal(value, position=token.position)
        if token.kind == "name":
            return self.name(token)
        raise self.error(f"unexpected {token.text!r}", token.position)

    def number(self, token: Token) -> int | float:
        """A number literal; one too long for Python to convert (over `sys.int_info`'s
        digit limit, a `ValueError`) is an error at its position, and one too large for a
        float (`1e999`) too, rather than infinity."""
        try:
            value = float(token.text) if re.search(r"[.eE]", token.text) else int(token.text)
        except ValueError:
            message = f"the number has too many digits ({len(token.text)})"
            raise self.error(message, token.position) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(f"the number {token.text[:20]!r} is out of range", token.position)
        return value

    def name(self, token: Token) -> Expr:
        lowered = token.text.lower()
        following = self.peek()
        if following is not None and following.text == "(":
            if lowered not in FUNCTIONS:
                raise self.error(f"unknown function {token.text!r}", token.position)
            self.index += 1
            self.enter(token)
            args: list[Expr] = []
            if not self.at(")"):
                args.append(self.disjunction())
                while self.at(","):
                    self.index += 1
                    args.append(self.disjunction())
            self.expect(")")
            self.depth -= 1
            if len(args) != FUNCTIONS[lowered]:
                raise self.error(
                    f"{lowered} takes {FUNCTIONS[lowered]} argument(s), not {len(args)}",
                    token.position,
                )
            return Call(lowered, tuple(args), position=token.position)
        if lowered in ("true", "false"):
            return Literal(lowered == "true", position=token.position)
        if lowered == "null":
            return Literal(None, position=token.position)
        if lowered in COMPARISONS or lowered in ("and", "or", "not", "in"):
            raise self.error(f"unexpected {token.text!r}", token.position)
        resolved = self.resolve(token.text)
        if resolved is None:
            raise self.error(f"unknown property {token.text!r}", token.position)
        return Property(resolved, position=token.position)


def parse(text: str, properties: Sequence[str]) -> Expr:
    """Parse a `$filter` expression over an entity with these properties."""
    return Parser(text, resolver(properties)).parse()


def resolver(properties: Sequence[str]) -> Callable[[str], str | None]:
    """Look a property up by its exact name, or else case-insensitively."""
    exact = set(properties)
    folded = {name.lower(): name for name in properties}

    def resolve(name: str) -> str | None:
        return name if name in exact else folded.get(name.lower())

    return resolve
