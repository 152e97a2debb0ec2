"""Merges by key, on every destination and strategy: what the source lacks is left alone.

A merge updates the rows whose key it stages and inserts the others. Columns of the
target the staged rows do not carry keep their values on updated rows (and take their
default on inserted ones), whichever statements a destination merges with; a row never
updates another row through a unique index that is not the merge key.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.engine.harness import Database, Job, rows

ORDERS = "REPLICATE [orders]"
COLUMNS = "id INTEGER, customer TEXT, total DECIMAL(10,2), updated_at TIMESTAMP"
WIDE = (
    f"REPLICATE [orders] ({COLUMNS}, note TEXT, PRIMARY KEY(id))"
    " SELECT id, customer, total, updated_at, customer AS note FROM [orders]"
)
NARROW = (
    f"REPLICATE [orders] ({COLUMNS}, PRIMARY KEY(id))"
    " SELECT id, customer, total, updated_at FROM [orders]"
)
SQL_DESTINATIONS = ["sqlite", "duckdb", "postgres", "mariadb"]
CONTACTS_DDL = (
    "CREATE TABLE contacts (email VARCHAR(100) NOT NULL, name VARCHAR(100),"
    " note VARCHAR(20) DEFAULT 'new')"
)


@pytest.mark.parametrize(
    ("source", "destination"),
    [("sqlite", d) for d in ("duckdb", "sqlite", "parquet", "memory", "postgres", "mariadb")],
    indirect=True,
)
def test_a_narrower_query_merges_without_emptying_the_columns_it_dropped(
    source: Database, destination: str
) -> None:
    """The job's query stops selecting a column: merged rows keep the column's values,
    rows the merge inserts have it empty — on files (rewritten) as on databases."""
    job = Job(source.url, destination, [WIDE], incremental_check_columns=["updated_at"])
    job.ok()
    job.queries = [NARROW]
    source.execute(
        "UPDATE orders SET total = 99.99, updated_at = '2024-01-02 00:00:00' WHERE id = 3",
        "INSERT INTO orders VALUES (11, 'c11', 11.50, '2024-01-02 00:01:00')",
    )
    job.ok()
    data = rows(destination, "orders", "id", ["id", "total", "note"])
    assert data[2] == {"id": 3, "total": Decimal("99.99"), "note": "c3"}
    assert [r["note"] for r in data] == [f"c{i}" for i in range(1, 11)] + [None]


@pytest.mark.parametrize("destination", SQL_DESTINATIONS, indirect=True)
def test_a_merge_into_a_table_without_a_key_constraint_keeps_its_other_columns(
    source: Database, destination: str
) -> None:
    """Reverse ETL into an application's table that has no constraint on the merge key:
    matched rows keep the columns the job does not write, inserted rows take defaults."""
    source.execute("CREATE TABLE people (email VARCHAR(100) PRIMARY KEY, name TEXT)")
    source.insert("people", [("a@x.org", "Ann"), ("b@x.org", "Bob")])
    app = Database("app", destination)
    app.execute(CONTACTS_DDL)
    app.insert("contacts", [("a@x.org", "ann", "vip"), ("z@x.org", "Zed", "app row")])
    query = (
        "REPLICATE [contacts] (email VARCHAR(100), name VARCHAR(100), PRIMARY KEY(email))"
        " SELECT email, name FROM [people]"
    )
    Job(source.url, destination, [query], job_type="reverse_etl").ok()
    assert rows(destination, "contacts", "email") == [
        {"email": "a@x.org", "name": "Ann", "note": "vip"},
        {"email": "b@x.org", "name": "Bob", "note": "new"},
        {"email": "z@x.org", "name": "Zed", "note": "app row"},
    ]


@pytest.mark.parametrize("destination", SQL_DESTINATIONS, indirect=True)
def test_a_merge_never_updates_another_row_through_a_unique_index(
    source: Database, destination: str
) -> None:
    """A new key whose other unique column collides with an existing row is an error that
    names the index and the table, not a silent update of the row it collides with (what
    MySQL's ON DUPLICATE KEY UPDATE does); the table keeps its rows."""
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    job.ok()
    Database("destination", destination).execute(
        "CREATE UNIQUE INDEX orders_by_customer ON orders (customer)"
    )
    source.execute("INSERT INTO orders VALUES (11, 'c3', 11.50, '2024-01-02 00:01:00')")
    outcome = job.run()
    assert outcome.status.value == "error", rows(destination, "orders", "id")
    error = outcome.error or ""
    assert error.startswith("orders: ") and "(id)" in error, error
    # The servers name the index; SQLite and DuckDB name the column it covers.
    named = "orders_by_customer" if destination.startswith(("postgres", "mariadb")) else "customer"
    assert named in error.removeprefix("orders: "), error
    data = rows(destination, "orders", "id", ["id", "customer", "total"])
    assert [r["id"] for r in data] == list(range(1, 11))
    assert data[2] == {"id": 3, "customer": "c3", "total": Decimal("3.50")}


@pytest.mark.parametrize("destination", SQL_DESTINATIONS, indirect=True)
def test_a_merge_by_a_key_that_is_not_the_primary_key_updates_by_that_key(
    source: Database, destination: str
) -> None:
    """Reverse ETL keyed by `email` into a table whose primary key is `id` (the
    application's) and where `email` is unique: rows are matched by email, their id and
    other columns kept; a new email is inserted."""
    source.execute("CREATE TABLE people (email VARCHAR(100) PRIMARY KEY, name TEXT)")
    source.insert("people", [("a@x.org", "Ann"), ("b@x.org", "Bob")])
    app = Database("app", destination)
    app.execute(
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL,"
        " name VARCHAR(100), note VARCHAR(20))",
        "CREATE UNIQUE INDEX contacts_email ON contacts (email)",
    )
    app.insert("contacts", [(7, "a@x.org", "ann", "vip"), (8, "z@x.org", "Zed", "app row")])
    query = (
        "REPLICATE [contacts] (id INTEGER, email VARCHAR(100), name VARCHAR(100),"
        " PRIMARY KEY(email)) SELECT CASE WHEN email = 'a@x.org' THEN 7 ELSE 9 END AS id,"
        " email, name FROM [people]"
    )
    Job(source.url, destination, [query], job_type="reverse_etl").ok()
    assert rows(destination, "contacts", "id") == [
        {"id": 7, "email": "a@x.org", "name": "Ann", "note": "vip"},
        {"id": 8, "email": "z@x.org", "name": "Zed", "note": "app row"},
        {"id": 9, "email": "b@x.org", "name": "Bob", "note": None},
    ]
