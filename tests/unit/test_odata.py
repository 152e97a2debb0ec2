"""OData query options and the CData facades' translations, without I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from conveyor.compat.cdata.connections import pairs, to_url
from conveyor.compat.cdata.jobs import job_type
from conveyor.compat.cdata.odata.evaluate import evaluate
from conveyor.compat.cdata.odata.expressions import QueryOptionError, parse
from conveyor.compat.cdata.odata.query import QueryOptions, apply
from conveyor.compat.cdata.paths import normalize
from conveyor.errors import InvalidInput

PROPS = ("JobName", "Status", "RecordsAffected", "Scheduled", "RunStartDate", "Details")
ROWS = [
    {
        "JobName": "nightly",
        "Status": "SUCCESS",
        "RecordsAffected": 1200,
        "Scheduled": True,
        "RunStartDate": dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC),
        "Details": "Completed",
    },
    {
        "JobName": "hourly orders",
        "Status": "FAILED",
        "RecordsAffected": 0,
        "Scheduled": False,
        "RunStartDate": dt.datetime(2024, 5, 2, 10, tzinfo=dt.UTC),
        "Details": None,
    },
    {
        "JobName": "O'Brien",
        "Status": "RUNNING",
        "RecordsAffected": 30,
        "Scheduled": True,
        "RunStartDate": None,
        "Details": "Running",
    },
]


def names(expression: str) -> list[str]:
    tree = parse(expression, PROPS)
    return [row["JobName"] for row in ROWS if evaluate(tree, row) is True]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("JobName eq 'nightly'", ["nightly"]),
        ("JobName ne 'nightly'", ["hourly orders", "O'Brien"]),
        ("RecordsAffected gt 30", ["nightly"]),
        ("RecordsAffected ge 30", ["nightly", "O'Brien"]),
        ("RecordsAffected lt 30", ["hourly orders"]),
        ("RecordsAffected le 30", ["hourly orders", "O'Brien"]),
        ("Status eq 'SUCCESS' or Status eq 'FAILED'", ["nightly", "hourly orders"]),
        ("Scheduled eq true and not (Status eq 'RUNNING')", ["nightly"]),
        ("Scheduled eq 'True'", ["nightly", "O'Brien"]),
        ("RecordsAffected eq '1200'", ["nightly"]),
        ("contains(JobName, 'ly')", ["nightly", "hourly orders"]),
        ("startswith(JobName, 'hour')", ["hourly orders"]),
        ("endswith(JobName, 'ien')", ["O'Brien"]),
        ("substringof('orders', JobName)", ["hourly orders"]),
        ("tolower(Status) eq 'failed'", ["hourly orders"]),
        ("length(JobName) eq 7", ["nightly", "O'Brien"]),
        ("JobName eq 'O''Brien'", ["O'Brien"]),
        ("Details eq null", ["hourly orders"]),
        ("Details ne null", ["nightly", "O'Brien"]),
        ("RunStartDate gt 2024-05-01T12:00:00Z", ["hourly orders"]),
        ("RunStartDate lt datetime'2024-05-01T12:00:00'", ["nightly"]),
        ("RunStartDate ge '2024-05-02'", ["hourly orders"]),
        ("Status in ('SUCCESS', 'RUNNING')", ["nightly", "O'Brien"]),
        ("jobname EQ 'nightly'", ["nightly"]),
        (
            "(Status eq 'FAILED' or RecordsAffected gt 100) and Scheduled eq false",
            ["hourly orders"],
        ),
    ],
)
def test_filter_operators_functions_and_literals(expression: str, expected: list[str]) -> None:
    assert names(expression) == expected


@pytest.mark.parametrize(
    ("expression", "position", "words"),
    [
        ("JobName eq 'nightly' and (Status eq", 35, "ends too early"),
        ("JobName eq 'nightly", 11, "unterminated"),
        ("Colour eq 'red'", 0, "unknown property 'Colour'"),
        ("JobName eq 'a' Status", 15, "unexpected 'Status'"),
        ("shout(JobName) eq 'A'", 0, "unknown function"),
        ("contains(JobName) eq true", 0, "takes 2"),
        ("JobName eq 'a' and", 18, "ends too early"),
        ("JobName ~ 'a'", 8, "unexpected character"),
        ("(JobName eq 'a'", 15, "expected ')'"),
        ("", 0, "empty"),
        ("RecordsAffected eq " + "1" * 5000, 19, "too many digits (5000)"),
        ("RecordsAffected gt 1e999", 19, "out of range"),
    ],
)
def test_malformed_filters_name_the_position(expression: str, position: int, words: str) -> None:
    with pytest.raises(QueryOptionError) as caught:
        parse(expression, PROPS)
    assert caught.value.position == position
    assert words in caught.value.message and f"position {position}" in caught.value.message


@pytest.mark.parametrize(
    ("expression", "position"),
    [
        ("(" * 500 + "JobName eq 'a'" + ")" * 500, 32),
        ("not " * 2000 + "Scheduled", 128),
        ("tolower(" * 100 + "JobName" + ")" * 100 + " eq 'a'", 256),
    ],
    ids=["parentheses", "not", "function calls"],
)
def test_filters_nested_too_deeply_are_refused(expression: str, position: int) -> None:
    with pytest.raises(QueryOptionError) as caught:
        parse(expression, PROPS)
    assert caught.value.position == position
    assert "nests deeper than 32 levels" in caught.value.message


def test_nesting_within_the_bound_and_long_chains_evaluate() -> None:
    assert names("(" * 32 + "JobName eq 'nightly'" + ")" * 32) == ["nightly"]
    # A chain as long as a URL allows: flat to evaluate, however many terms.
    either = " or ".join(["JobName eq 'nobody'"] * 3000 + ["JobName eq 'nightly'"])
    assert names(either) == ["nightly"]
    both = " and ".join(["Scheduled eq true"] * 3000)
    assert names(both) == ["nightly", "O'Brien"]
    from conveyor.compat.cdata.odata.evaluate import equalities

    assert equalities(parse(both + " and JobName eq 'x'", PROPS)) == {
        "Scheduled": True,
        "JobName": "x",
    }


def test_options_select_order_page_and_count() -> None:
    params = {
        "$filter": "RecordsAffected ge 0",
        "$select": "JobName,RecordsAffected",
        "$orderby": "Scheduled desc, RecordsAffected asc",
        "$top": "2",
        "$skip": "0",
        "$count": "true",
    }
    options = QueryOptions.parse(params, PROPS)
    result = apply(ROWS, options)
    assert result.total == 3 and options.count
    assert result.rows == [
        {"JobName": "O'Brien", "RecordsAffected": 30},
        {"JobName": "nightly", "RecordsAffected": 1200},
    ]
    skipped = apply(ROWS, QueryOptions.parse({"$skip": "2", "$top": "5"}, PROPS))
    assert [r["JobName"] for r in skipped.rows] == ["O'Brien"] and skipped.total == 3
    nulls_first = apply(ROWS, QueryOptions.parse({"$orderby": "Details"}, PROPS))
    assert nulls_first.rows[0]["JobName"] == "hourly orders"


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"$select": "JobName,Nope"}, "$select: unknown property 'Nope'"),
        ({"$orderby": "JobName sideways"}, "$orderby"),
        ({"$orderby": "Nope"}, "$orderby: unknown property"),
        ({"$top": "-1"}, "$top must not be negative"),
        ({"$skip": "x"}, "$skip must be a whole number"),
        ({"$expand": "Tasks"}, "$expand is not supported"),
        ({"$count": "maybe"}, "$count must be true or false"),
    ],
)
def test_bad_options_are_refused(params: dict[str, str], words: str) -> None:
    with pytest.raises(QueryOptionError) as caught:
        QueryOptions.parse(params, PROPS)
    assert words in caught.value.message


def test_paths_are_normalized_but_keys_keep_their_case() -> None:
    assert normalize("/API.RSC/Jobs('My%2FJob')/Source/$Value") == (
        "/api.rsc/jobs('My%2FJob')/Source/$value"
    )
    assert normalize("/api.rsc/ExecuteJob") == "/api.rsc/executejob"
    assert normalize("/api.rsc/Tasks/$COUNT/") == "/api.rsc/tasks/$count"
    assert normalize("/api.rsc/v2/jobsabc-123") == "/api.rsc/v2/jobs/abc-123"
    assert normalize("/api.rsc/v2/jobs{abc-123}") == "/api.rsc/v2/jobs/abc-123"
    assert normalize("/api.rsc/v2/Workspaces/Default/Jobs") == "/api.rsc/v2/workspaces/Default/jobs"


def test_connection_strings_become_urls() -> None:
    assert to_url("PostgreSQL", "Server=db;Port=5433;Database=shop;User Id=app;Password='p;w'") == (
        "postgresql://app:p%3Bw@db:5433/shop",
        {},
    )
    assert to_url("CData.MySQL", "Host=h;Database=d;UID=u;PWD=x;SslMode=Required") == (
        "mysql://u:x@h/d",
        {"ssl_mode": "Required"},
    )
    assert to_url("SQLite", "Data Source=/data/shop.db") == ("sqlite:////data/shop.db", {})
    assert to_url("DuckDB", "Database=lake.duckdb;Threads=2") == (
        "duckdb:///lake.duckdb",
        {"threads": "2"},
    )
    assert to_url("CSV", "URI=/data/in;Format=CSV") == ("file:///data/in?format=csv", {})
    assert to_url(None, "URL=sqlite:///x.db;timeout=5") == ("sqlite:///x.db", {"timeout": "5"})
    assert to_url("anything", "duckdb:///y.duckdb") == ("duckdb:///y.duckdb", {})
    assert pairs('a = 1 ; b="x;y"') == {"a": "1", "b": "x;y"}
    with pytest.raises(InvalidInput, match="Salesforce"):
        to_url("Salesforce", "User=u;Password=p")
    with pytest.raises(InvalidInput, match="position"):
        to_url("SQLite", "Database=/x.db;oops")


def test_job_types_by_name_and_number() -> None:
    assert [job_type(n, "Type") for n in (1, "2", 3, "7", 10)] == [
        "standard",
        "sync_all",
        "load_folder",
        "change_data_capture",
        "reverse_etl",
    ]
    assert job_type("ReverseETL", "Type") == "reverse_etl"
    assert job_type("sync_all", "Type") == "sync_all"
    with pytest.raises(InvalidInput, match="unknown job type 4"):
        job_type(4, "Type")
