"""The SQLite statement reader: statements cut where SQLite cuts them, and the ones that
reach beyond the database named, however they are dressed up."""

from __future__ import annotations

import sqlite3

import pytest

from conveyor.connectors.sqlite.statements import reach_refusal, statements, tokens, vet
from conveyor.errors import ConfigurationError
from conveyor.policy import PathRefused, Reach, StatementRefused

CLOSED = Reach(external_access=False)
OPEN = Reach(external_access=True)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("SELECT 1", 1),
        ("SELECT 1;", 1),
        ("  ;; SELECT 1 ;; -- done", 1),
        ("SELECT ';' AS x", 1),
        ('SELECT "a;b" FROM t', 1),
        ("SELECT [a;b] FROM t", 1),
        ("SELECT `a;b` FROM t", 1),
        ("SELECT 'it''s; fine'", 1),
        ("SELECT 1 /* ; */", 1),
        ("SELECT 1 -- ; ATTACH\n", 1),
        ("SELECT x'00' ; SELECT 2", 2),
        ("SELECT 1; SELECT 2", 2),
        ("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; UPDATE t SET a = 1; END", 1),
        ("CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; SELECT 2", 2),
        ("EXPLAIN CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;", 1),
        ("CREATE TABLE trigger (a); SELECT 1", 2),
        ("SELECT CASE WHEN 1 THEN 2 END; SELECT 3", 2),
        ("/* a comment that never ends ; ATTACH", 0),
        ("", 0),
    ],
)
def test_statements_are_cut_where_sqlite_cuts_them(text: str, count: int) -> None:
    assert len(statements(text)) == count


SAMPLES = [
    "SELECT 1; SELECT ';'; SELECT \"a;\" FROM [b;]; SELECT `c;`;",
    "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; UPDATE t SET a = 1; END; SELECT 2;",
    "CREATE TEMPORARY TRIGGER tr BEFORE DELETE ON t BEGIN SELECT CASE WHEN 1 THEN 2 END; END;",
    "EXPLAIN QUERY PLAN CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; end ; SELECT 3;",
    'CREATE TABLE trigger (a); CREATE "TRIGGER" x; SELECT 1 /* ; */; SELECT 2 -- ;\n;',
    "SELECT x'00'';'; SELECT 'a''b;'; ;",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_cuts_agree_with_sqlite_complete(text: str) -> None:
    """After each `;`, a statement ends exactly when SQLite's sqlite3_complete() says so
    (Python's sqlite3 module offers it; it opens no file here)."""
    for semi in (t for t in tokens(text) if t.kind == "semi"):
        before = text[: semi.end]
        ends = len(statements(before + " x")) > len(statements(before))
        assert ends == sqlite3.complete_statement(before), before


def test_names_and_quotes() -> None:
    found = list(tokens('PRAGMA "temp_store_directory" [x]]y] `a``b`'))
    assert [t.kind for t in found] == ["word", "name", "name", "other", "word", "other", "name"]
    assert found[1].name == "temp_store_directory"
    assert found[-1].name == "a`b"


@pytest.mark.parametrize(
    "text",
    [
        "ATTACH '/data/conveyor.db' AS meta",
        "attach database '/data/conveyor.db' as meta",
        "/* hello */ ATTACH 'x.db' AS y",
        "-- hello\nATTACH 'x.db' AS y",
        ";; ATTACH 'x.db' AS y",
        "EXPLAIN ATTACH 'x.db' AS y",
        "EXPLAIN QUERY PLAN ATTACH 'x.db' AS y",
        "DETACH meta",
        "VACUUM INTO '/tmp/copy.db'",
        "vacuum main into '/tmp/copy.db'",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA \"temp_store_directory\" = '/tmp'",
        "PRAGMA [data_store_directory] = '/tmp'",
        "PRAGMA 'temp_store_directory' = '/tmp'",
        "EXPLAIN PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA main.'hard_heap_limit' = 1",
        "PRAGMA hard_heap_limit = 1",
        "pragma main.soft_heap_limit(1)",
    ],
)
def test_statements_that_reach_other_files(text: str) -> None:
    (statement,) = statements(text)
    assert reach_refusal(statement) is not None
    with pytest.raises(StatementRefused, match="allow_external_access"):
        vet(text, CLOSED)
    assert vet(text, OPEN)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT attach, detach, vacuum FROM t",
        "SELECT 'ATTACH x' AS note",
        'SELECT "ATTACH" FROM t',
        "VACUUM",
        "VACUUM main",
        "PRAGMA journal_mode = WAL",
        "INSERT INTO t SELECT * FROM u",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
    ],
)
def test_statements_that_stay_inside(text: str) -> None:
    assert vet(text, CLOSED)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1; ATTACH 'x.db' AS y",
        "SELECT ';' ; ATTACH 'x.db' AS y",
        "SELECT 1 /* ; */ ; ATTACH 'x.db' AS y",
        "SELECT 1 -- comment\n; ATTACH 'x.db' AS y",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; ATTACH 'x.db' AS y",
    ],
)
def test_a_smuggled_statement_is_refused_as_reaching(text: str) -> None:
    with pytest.raises(StatementRefused):
        vet(text, CLOSED)


def test_more_than_one_statement_is_refused_for_everyone() -> None:
    for reach in (CLOSED, OPEN):
        with pytest.raises(ConfigurationError, match="one statement at a time"):
            vet("UPDATE t SET a = 1; DELETE FROM t", reach)


@pytest.mark.parametrize(
    "text", ["SELECT 'unterminated", 'SELECT "x', "SELECT [x", "SELECT x'00", "SELECT 1\0; ATTACH"]
)
def test_a_text_that_cannot_be_read_is_refused_for_everyone(text: str) -> None:
    for reach in (CLOSED, OPEN):
        with pytest.raises(StatementRefused, match="cannot be read"):
            vet(text, reach)


def test_vet_returns_the_statement_without_its_end() -> None:
    assert vet("  SELECT 1 -- why\n ; -- bye", CLOSED) == "SELECT 1"


OPEN_BUT_THE_DATA_DIR = Reach(denied_roots=("/srv/conveyor",), external_access=True)


@pytest.mark.parametrize(
    "text",
    [
        "ATTACH '/srv/conveyor/conveyor.db' AS meta",
        "ATTACH DATABASE '/srv/conveyor/../conveyor/conveyor.db' AS meta",
        "VACUUM INTO '/srv/conveyor/copy.db'",
        "ATTACH 'file:/srv/conveyor/conveyor.db?mode=ro' AS meta",
        "ATTACH 'file:elsewhere.db' AS meta",
        "ATTACH '/srv/' || 'conveyor/conveyor.db' AS meta",
        "ATTACH (SELECT '/srv/conveyor/conveyor.db') AS meta",
        "ATTACH ? AS meta",
        'ATTACH "/srv/conveyor/conveyor.db" AS meta',
    ],
)
def test_with_external_access_attached_files_are_still_vetted(text: str) -> None:
    with pytest.raises(PathRefused):
        vet(text, OPEN_BUT_THE_DATA_DIR)


@pytest.mark.parametrize(
    "text",
    [
        "ATTACH '/srv/elsewhere/x.db' AS x",
        "ATTACH DATABASE 'x.db' AS 'x'",
        "ATTACH ':memory:' AS scratch",
        "ATTACH '' AS scratch",
        "VACUUM main INTO '/srv/elsewhere/copy.db'",
        "DETACH x",
    ],
)
def test_with_external_access_other_files_may_be_attached(text: str) -> None:
    assert vet(text, OPEN_BUT_THE_DATA_DIR) == text
