"""What a SQL text asks of SQLite, read the way SQLite's own tokenizer reads it.

The SQLite connector's driver (ADBC, with SQLite linked in and its symbols hidden) offers
no authorizer callback, so the connector vets each text before executing it:
- it is cut into statements as `sqlite3_complete()` does (a `;` inside a CREATE
  TRIGGER's BEGIN … END does not end it). ADBC runs only the first statement and
  ignores the rest without a word, so a text with more than one is refused;
- a statement that reaches files other than the database — ATTACH, DETACH, VACUUM …
  INTO, and the PRAGMAs that set a directory or a limit for every SQLite database of the
  server process — is refused unless the connection's `Reach` has external access;
- with external access, the file an ATTACH or VACUUM INTO opens must be one string
  literal, and is checked with `Reach.check_path`: even then no connection may open the
  metadata store (two SQLite libraries on one file break each other's locks).

Tokens follow SQLite's `tokenize.c`: whitespace is space, tab, CR, LF and FF; names are
ASCII letters, digits, `_`, `$` and any non-ASCII character; `--` and `/* … */` are
comments (an unclosed one runs to the end); strings are in '…', names in "…", `…` and
[…], with the quote doubled inside. A text this module cannot read (an unclosed quote,
a NUL character, after which SQLite reads no further) is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from conveyor.errors import ConfigurationError
from conveyor.policy import PathRefused, Reach, StatementRefused

_SPACE = " \t\n\f\r"
_QUOTES = {"'": "'", '"': '"', "`": "`", "[": "]"}
PROCESS_PRAGMAS = {
    "temp_store_directory": "sets where every SQLite database of the server writes temporary files",
    "data_store_directory": "sets where every SQLite database of the server keeps its files",
    "hard_heap_limit": "sets the memory limit of every SQLite database of the server",
    "soft_heap_limit": "sets the memory limit of every SQLite database of the server",
}
"""PRAGMAs that change the whole process's SQLite, not one database."""


class Unreadable(ValueError):
    """The text cannot be cut into SQLite tokens."""


@dataclass(frozen=True)
class Token:
    """One SQLite token: a bare `word`, a `name` in quotes, a `string`, `;`, or `other`."""

    kind: str
    text: str
    start: int
    end: int

    @property
    def keyword(self) -> str:
        """The upper-cased word ('' for anything but a bare word)."""
        return self.text.upper() if self.kind == "word" else ""

    @property
    def value(self) -> str:
        """What a string or quoted name says, quotes taken off ('' for anything else)."""
        if self.kind not in ("name", "string"):
            return ""
        close = _QUOTES[self.text[0]]
        return self.text[1:-1].replace(close * 2, close)

    @property
    def name(self) -> str:
        """The lower-cased name a word, a quoted name or a string stands for ('' otherwise):
        SQLite takes a string where it expects a name (`PRAGMA 'temp_store_directory'`)."""
        return self.text.lower() if self.kind == "word" else self.value.lower()


def _is_id(char: str) -> bool:
    return not char.isascii() or char.isalnum() or char in "_$"


def tokens(text: str) -> Iterator[Token]:
    """The tokens of `text`, comments and whitespace left out."""
    if "\0" in text:
        raise Unreadable("it contains a NUL character")
    i, size = 0, len(text)
    while i < size:
        char, start = text[i], i
        if char in _SPACE:
            i += 1
            continue
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = size if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = size if end < 0 else end + 2
            continue
        if char in "xX" and text.startswith("'", i + 1):  # a blob literal x'…' has no escapes
            end = text.find("'", i + 2)
            if end < 0:
                raise Unreadable(f"a blob literal at position {start} is not closed")
            i = end + 1
            yield Token("other", text[start:i], start, i)
        elif char in _QUOTES:
            i = _closing(text, i, _QUOTES[char])
            yield Token("string" if char == "'" else "name", text[start:i], start, i)
        elif char == ";":
            i += 1
            yield Token("semi", ";", start, i)
        elif _is_id(char) or char in "?:@#":  # names, numbers and parameters
            i += 1
            while i < size and _is_id(text[i]):
                i += 1
            kind = "word" if _is_id(char) and not char.isdigit() and char != "$" else "other"
            yield Token(kind, text[start:i], start, i)
        else:
            i += 1
            yield Token("other", char, start, i)


def _closing(text: str, start: int, close: str) -> int:
    """The position after the quote that closes the one at `start` (doubled quotes inside)."""
    i = start + 1
    while True:
        end = text.find(close, i)
        if end < 0:
            raise Unreadable(f"the quote at position {start} is not closed")
        if close != "]" and text.startswith(close, end + 1):
            i = end + 2
            continue
        return end + 1


# sqlite3_complete()'s state machine: states 0 INVALID, 1 START, 2 NORMAL, 3 EXPLAIN,
# 4 CREATE, 5 TRIGGER, 6 SEMI, 7 END; a `;` that leads to START ends a statement.
_CLASSES = {"EXPLAIN": 3, "CREATE": 4, "TEMP": 5, "TEMPORARY": 5, "TRIGGER": 6, "END": 7}
_SEMI, _OTHER = 0, 2
_TRANSITIONS = (
    # SEMI WS OTHER EXPLAIN CREATE TEMP TRIGGER END
    (1, 0, 2, 3, 4, 2, 2, 2),  # INVALID
    (1, 1, 2, 3, 4, 2, 2, 2),  # START
    (1, 2, 2, 2, 2, 2, 2, 2),  # NORMAL
    (1, 3, 3, 2, 4, 2, 2, 2),  # EXPLAIN
    (1, 4, 2, 2, 2, 4, 5, 2),  # CREATE
    (6, 5, 5, 5, 5, 5, 5, 5),  # TRIGGER
    (6, 6, 5, 5, 5, 5, 5, 7),  # SEMI
    (1, 7, 5, 5, 5, 5, 5, 5),  # END
)


def statements(text: str) -> list[list[Token]]:
    """The statements of `text` as SQLite cuts them, empty ones left out."""
    found: list[list[Token]] = []
    current: list[Token] = []
    state = 0
    for token in tokens(text):
        kind = _SEMI if token.kind == "semi" else _CLASSES.get(token.keyword, _OTHER)
        state = _TRANSITIONS[state][kind]
        if kind == _SEMI and state == 1:
            if current:
                found.append(current)
            current = []
        else:
            current.append(token)
    if current:
        found.append(current)
    return found


def _verb(statement: list[Token]) -> tuple[str, int]:
    """The statement's first keyword after EXPLAIN [QUERY PLAN], and its position."""
    words = [t.keyword for t in statement]
    head = 0
    if words[:1] == ["EXPLAIN"]:
        head = 3 if words[1:3] == ["QUERY", "PLAN"] else 1
    return (words[head] if head < len(words) else ""), head


def reach_refusal(statement: list[Token]) -> str | None:
    """Why a statement would reach beyond its database, or None when it stays inside."""
    words = [t.keyword for t in statement]
    verb, _ = _verb(statement)
    if verb in ("ATTACH", "DETACH"):
        return f"{verb} reaches database files other than the connection's"
    if verb == "VACUUM" and "INTO" in words:
        return "VACUUM INTO writes a copy of the database to another file"
    if verb == "PRAGMA":
        for token in statement:
            if token.name in PROCESS_PRAGMAS:
                return f"PRAGMA {token.name} {PROCESS_PRAGMAS[token.name]}"
    return None


def file_operand(statement: list[Token]) -> list[Token]:
    """The tokens of the file an ATTACH or VACUUM INTO opens (none for other statements)."""
    verb, head = _verb(statement)
    words = [t.keyword for t in statement]
    if verb == "ATTACH":
        rest = statement[head + 1 :]
        rest = rest[1:] if rest[:1] and rest[0].keyword == "DATABASE" else rest
        end = next((i for i, t in enumerate(rest) if t.keyword == "AS"), len(rest))
        return rest[:end]
    if verb == "VACUUM" and "INTO" in words:
        return statement[words.index("INTO") + 1 :]
    return []


def check_files(statement: list[Token], reach: Reach) -> None:
    """Refuse an ATTACH or VACUUM INTO whose file the reach refuses or that is not one
    string literal the policy can check (`:memory:` and '' open no file)."""
    operand = file_operand(statement)
    if not operand:
        return
    if len(operand) != 1 or operand[0].kind != "string":
        shown = " ".join(t.text for t in operand)[:60]
        raise PathRefused(
            f"the database file of an ATTACH or VACUUM INTO must be one string literal,"
            f" which Conveyor checks ({shown!r} is not)",
            path=shown,
        )
    path = operand[0].value
    if path in ("", ":memory:"):
        return
    if path[:5].lower() == "file:":
        raise PathRefused(
            f"{path!r} is a SQLite URI; ATTACH and VACUUM INTO take a database file's path",
            path=path,
        )
    reach.check_path(path, "database file")


def vet(text: str, reach: Reach) -> str:
    """The one statement of `text` (its `;` and trailing comments cut) once it is allowed.

    Raises `StatementRefused` when a statement of the text reaches beyond the database,
    unless the reach has external access (`PathRefused` then, for a file the reach
    refuses), or when the text cannot be read; then `ConfigurationError` for more than
    one statement, which SQLite would run the first of, dropping the rest.
    """
    try:
        found = statements(text)
    except Unreadable as exc:
        raise StatementRefused(
            f"the SQLite statement cannot be read safely ({exc}), so it is not run"
        ) from exc
    for statement in found:
        reach.check_statement_reach(reach_refusal(statement))
        check_files(statement, reach)
    if len(found) > 1:
        extra = text[found[1][0].start :][:60]
        raise ConfigurationError(
            f"SQLite runs one statement at a time; the text after the first ({extra!r}…)"
            " would be ignored: send each statement on its own"
        )
    if not found:
        return text
    return text[found[0][0].start : found[0][-1].end]
