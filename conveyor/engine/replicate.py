"""The REPLICATE statement (CData Sync's task language), parsed into a typed value.

    REPLICATE [Dest]
    REPLICATE [Dest] SELECT cols FROM [Src] WHERE …
    REPLICATE [Dest] (col type, …, PRIMARY KEY(a, b)) SELECT …
    REPLICATE [Dest] WITH DropTable, TruncateTable, IncrementalCheckColumns='updated_at' SELECT …
    REPLICATE ALL [EXCLUDE TABLES (a, b)] [WITH …]

The prefix is read by a small tokenizer here; the SELECT part is parsed by sqlglot so it
can be transpiled to each source's dialect. Every error carries its character position.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlglot
from pydantic import ValidationError
from sqlglot import exp
from sqlglot.errors import ParseError

from conveyor.connectors.base import TableRef
from conveyor.domain import EngineSettings
from conveyor.errors import BadStatement

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<bracket>\[(?:[^\]]|\]\])*\])
  | (?P<dquote>"(?:[^"]|"")*")
  | (?P<backtick>`(?:[^`]|``)*`)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<word>[^\W\d][\w$]*)
  | (?P<punct>[(),=.;])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

OPTION_NAMES: dict[str, str] = {
    "truncatetabledata": "truncate_table_data",
    "truncatetable": "truncate_table_data",
    "droptable": "drop_table",
    "alterschema": "alter_schema",
    "autotruncatestrings": "auto_truncate_strings",
    "continueonerror": "continue_on_error",
    "destinationschema": "destination_schema",
    "tablenameprefix": "table_name_prefix",
    "usegmtdatetime": "use_gmt_datetime",
    "historymode": "history_mode",
    "deletionbehavior": "deletion_behavior",
    "replicateinterval": "replicate_interval",
    "replicateintervalunit": "replicate_interval_unit",
    "replicatestartdate": "replicate_start_date",
    "batchsize": "batch_size",
    "commandtimeout": "command_timeout",
    "incrementalcheckcolumns": "incremental_check_columns",
    "incrementalcheckcolumn": "incremental_check_columns",
    "enableparallelprocessing": "enable_parallel_processing",
    "workerpool": "worker_pool",
    "exportformat": "export_format",
}
"""REPLICATE option names (CData's PascalCase or snake_case, case-insensitive) → settings."""


@dataclass(frozen=True)
class Token:
    """A token of the statement prefix with its position in the statement."""

    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


class ColumnDef(NamedTuple):
    """A destination column the statement declares in `(name type, …)`: a plain pair."""

    name: str
    type_sql: str


@dataclass(frozen=True)
class ReplicateStatement:
    """A parsed REPLICATE statement."""

    text: str
    target: TableRef | None
    replicate_all: bool = False
    exclude_tables: tuple[str, ...] = ()
    columns: tuple[ColumnDef, ...] = ()
    primary_key: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    select: exp.Query | None = None
    source_table: TableRef | None = None

    def select_sql(self, dialect: str) -> str:
        """The SELECT part (or `SELECT * FROM source`) in a source's sqlglot dialect."""
        return self.source_query().sql(dialect=dialect)

    def source_query(self) -> exp.Query:
        """The SELECT to run on the source, as a sqlglot expression (a fresh copy)."""
        if self.select is not None:
            return self.select.copy()
        assert self.source_table is not None
        return exp.select("*").from_(table_expression(self.source_table))


def table_expression(ref: TableRef) -> exp.Table:
    """A quoted sqlglot table expression for a table reference."""
    return exp.table_(
        exp.to_identifier(ref.name, quoted=True),
        db=exp.to_identifier(ref.schema, quoted=True) if ref.schema else None,
    )


def parse(text: str) -> ReplicateStatement:
    """Parse a REPLICATE statement; `BadStatement` with the position of the first error."""
    return _Parser(text).statement()


def _unquote(token: Token) -> str:
    if token.kind == "bracket":
        return token.text[1:-1].replace("]]", "]")
    if token.kind == "dquote":
        return token.text[1:-1].replace('""', '"')
    if token.kind == "backtick":
        return token.text[1:-1].replace("``", "`")
    return token.text


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(self._tokenize())
        self.i = 0

    def _tokenize(self) -> Any:
        pos = 0
        while pos < len(self.text):
            match = _TOKEN.match(self.text, pos)
            assert match is not None  # the last alternative matches any character
            kind = match.lastgroup or ""
            if kind != "ws":
                yield Token(kind, match.group(), pos)
            pos = match.end()

    # --- helpers -------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token | None:
        index = self.i + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def error(self, message: str, token: Token | None = None) -> BadStatement:
        pos = token.pos if token else len(self.text)
        return BadStatement(f"{message} at position {pos}", position=pos)

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end of statement")
        self.i += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token is None or token.upper != text:
            found = repr(token.text) if token else "end of statement"
            raise self.error(f"expected {text}, found {found}", token)
        self.i += 1
        return token

    def at(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.upper in words

    def accept(self, word: str) -> bool:
        """Take the next token if it is `word`; whether it was."""
        if not self.at(word):
            return False
        self.i += 1
        return True

    def identifier_list(self) -> list[str]:
        """`(name, …)`: one name or more, in parentheses."""
        self.expect("(")
        names = [self.identifier()]
        while self.accept(","):
            names.append(self.identifier())
        self.expect(")")
        return names

    def identifier(self) -> str:
        token = self.take()
        if token.kind not in ("bracket", "dquote", "backtick", "word"):
            raise self.error(f"expected a name, found {token.text!r}", token)
        name = _unquote(token)
        if not name:
            raise self.error("empty name", token)
        return name

    # --- grammar -------------------------------------------------------------------------

    def statement(self) -> ReplicateStatement:
        if not self.tokens:
            raise BadStatement("the statement is empty at position 0", position=0)
        self.expect("REPLICATE")
        if self.at("ALL"):
            return self.replicate_all()
        target = self.table_name()
        columns, keys = self.column_defs() if self.at("(") else ((), ())
        options = self.options() if self.at("WITH") and not self.at_cte() else {}
        select, source = self.select_part(target)
        return ReplicateStatement(
            text=self.text,
            target=target,
            columns=columns,
            primary_key=keys,
            options=options,
            select=select,
            source_table=source,
        )

    def replicate_all(self) -> ReplicateStatement:
        self.expect("ALL")
        excluded: list[str] = []
        if self.accept("EXCLUDE"):
            self.expect("TABLES")
            excluded = self.identifier_list()
        options = self.options() if self.at("WITH") else {}
        self.end()
        return ReplicateStatement(
            text=self.text,
            target=None,
            replicate_all=True,
            exclude_tables=tuple(excluded),
            options=options,
        )

    def table_name(self) -> TableRef:
        first = self.identifier()
        if self.accept("."):
            return TableRef(self.identifier(), first)
        return TableRef(first)

    def column_defs(self) -> tuple[tuple[ColumnDef, ...], tuple[str, ...]]:
        self.expect("(")
        columns: list[ColumnDef] = []
        keys: list[str] = []
        while True:
            if self.accept("PRIMARY"):
                self.expect("KEY")
                keys.extend(self.identifier_list())
            else:
                start = self.peek()
                name = self.identifier()
                columns.append(ColumnDef(name, self.type_text(start)))
            if self.accept(")"):
                break
            self.expect(",")
        names = {c.name for c in columns}
        for key in keys:
            if columns and key not in names:
                raise self.error(f"PRIMARY KEY column {key!r} is not among the declared columns")
        return tuple(columns), tuple(keys)

    def type_text(self, start: Token | None) -> str:
        depth = 0
        begin = self.peek()
        end_pos = begin.pos if begin else len(self.text)
        while (token := self.peek()) is not None:
            if depth == 0 and token.text in (",", ")"):
                break
            depth += token.text == "("
            depth -= token.text == ")"
            end_pos = token.pos + len(token.text)
            self.i += 1
        if begin is None or end_pos <= begin.pos:
            raise self.error("expected a column type", self.peek() or start)
        type_sql = self.text[begin.pos : end_pos]
        try:
            exp.DataType.build(type_sql.split(" NOT NULL")[0].split(" not null")[0])
        except (ParseError, ValueError) as exc:
            raise self.error(f"unknown column type {type_sql!r}", begin) from exc
        return type_sql

    def at_cte(self) -> bool:
        """Whether `WITH` starts a common table expression rather than options."""
        after_with, following = self.peek(1), self.peek(2)
        if after_with is not None and after_with.upper == "RECURSIVE":
            return True
        return following is not None and following.upper in ("AS", "(")

    def options(self) -> dict[str, Any]:
        self.expect("WITH")
        raw: dict[str, tuple[Any, Token]] = {}
        while True:
            name_token = self.peek()
            name = self.identifier()
            field_name = OPTION_NAMES.get(name.lower().replace("_", ""))
            if field_name is None:
                raise self.error(f"unknown option {name!r}{_closest(name)}", name_token)
            value: Any = True
            if self.accept("="):
                value = self.literal()
            if name.lower().replace("_", "") == "skipdeleted":
                field_name, value = "deletion_behavior", "skip_delete" if value else "hard_delete"
            raw[field_name] = (_normalize_option(field_name, value), name_token or self.tokens[-1])
            if not self.accept(","):
                break
        try:
            validated = EngineSettings.model_validate({k: v for k, (v, _) in raw.items()})
        except ValidationError as exc:
            problem = exc.errors()[0]
            bad = str(problem["loc"][0]) if problem["loc"] else ""
            token = raw[bad][1] if bad in raw else None
            raise self.error(f"option {bad}: {problem['msg']}", token) from exc
        return validated.model_dump(mode="json", include=set(raw))

    def literal(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "word" and token.upper in ("TRUE", "FALSE"):
            return token.upper == "TRUE"
        if token.kind in ("word", "bracket", "dquote", "backtick"):
            return _unquote(token)
        raise self.error(f"expected a value, found {token.text!r}", token)

    def select_part(self, target: TableRef) -> tuple[exp.Query | None, TableRef | None]:
        token = self.peek()
        if token is None or token.text == ";":
            self.end()
            return None, target
        if token.upper not in ("SELECT", "WITH", "("):
            raise self.error(
                f"expected SELECT, WITH or the end of the statement, found {token.text!r}", token
            )
        offset = token.pos
        sql = _brackets_to_quotes(self.text[offset:]).rstrip().rstrip(";")
        try:
            parsed = sqlglot.parse(sql)
        except ParseError as exc:
            detail = exc.errors[0] if exc.errors else {}
            pos = offset + _offset_of(sql, detail.get("line", 1), detail.get("col", 1))
            reason = detail.get("description", str(exc))
            raise BadStatement(f"{reason} at position {pos}", position=pos) from exc
        except RecursionError:  # sqlglot recurses per parenthesis: a few dozen exhaust it
            raise BadStatement(
                f"the SELECT part nests too deeply at position {offset}", position=offset
            ) from None
        if len(parsed) != 1 or not isinstance(parsed[0], exp.Query):
            raise BadStatement(
                f"expected one SELECT statement at position {offset}", position=offset
            )
        select = parsed[0]
        tables = [t for t in select.find_all(exp.Table) if t.name]
        if not tables:
            raise BadStatement(
                f"the SELECT part names no source table at position {offset}", position=offset
            )
        first = tables[0]
        source = TableRef(first.name, first.db or None)
        self.i = len(self.tokens)
        return select, source

    def end(self) -> None:
        token = self.peek()
        if token is not None and token.text == ";":
            self.i += 1
            token = self.peek()
        if token is not None:
            raise self.error(f"unexpected {token.text!r}", token)


OPTION_SPELLINGS = (
    "TruncateTableData", "DropTable", "AlterSchema", "AutoTruncateStrings", "ContinueOnError",
    "DestinationSchema", "TableNamePrefix", "UseGmtDateTime", "HistoryMode", "DeletionBehavior",
    "SkipDeleted", "ReplicateInterval", "ReplicateIntervalUnit", "ReplicateStartDate",
    "BatchSize", "CommandTimeout", "IncrementalCheckColumns", "EnableParallelProcessing",
    "WorkerPool", "ExportFormat",
)  # fmt: skip
"""How the docs and CData spell the options, for suggestions."""


def _closest(name: str) -> str:
    """`; did you mean 'X'?` for the known option nearest to a misspelt one, else ``."""
    by_key = {spelling.lower(): spelling for spelling in OPTION_SPELLINGS}
    found = difflib.get_close_matches(name.lower().replace("_", ""), list(by_key), n=1, cutoff=0.6)
    return f"; did you mean {by_key[found[0]]!r}?" if found else ""


def _normalize_option(field_name: str, value: Any) -> Any:
    if field_name == "deletion_behavior" and isinstance(value, str):
        return re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower().replace("__", "_")
    if field_name == "replicate_interval_unit" and isinstance(value, str):
        return value.lower()
    return value


def _brackets_to_quotes(sql: str) -> str:
    """Rewrite [bracketed] identifiers as "quoted" ones, leaving string literals alone."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch == "'":
            end = i + 1
            while end < len(sql):
                if sql[end] == "'" and not (end + 1 < len(sql) and sql[end + 1] == "'"):
                    break
                end += 2 if sql[end] == "'" else 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif ch == "[":
            end = i + 1
            while end < len(sql) and not (sql[end] == "]" and sql[end + 1 : end + 2] != "]"):
                end += 2 if sql[end] == "]" else 1
            name = sql[i + 1 : end].replace("]]", "]")
            out.append('"' + name.replace('"', '""') + '"')
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _offset_of(sql: str, line: int, col: int) -> int:
    lines = sql.split("\n")
    before = sum(len(lines[n]) + 1 for n in range(min(line - 1, len(lines))))
    return max(0, before + col - 1)
