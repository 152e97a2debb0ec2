"""Type fidelity through every pair of connectors, servers included, by property-based testing.

Random tables of decimals, instants and local timestamps, dates, booleans, binary, JSON
text, unicode and NULLs, with awkward identifiers, are written to a source, replicated
by the engine, and read back from the destination: the values must be identical.
PostgreSQL and MariaDB places are a fresh schema (PostgreSQL, in one database for the
module) or a fresh database (MariaDB) per example, dropped after it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.connectors.base import TableRef, TableSchema
from conveyor.connectors.registry import open_connector
from conveyor.connectors.sql import quote
from tests.integration.engine.harness import Job, ServerDatabases, pg_schema
from tests.services import fresh_mysql_database, mysql_url

EMBEDDED = ["sqlite", "duckdb", "parquet", "memory"]
SERVERS = ["postgres", "mariadb"]
KINDS = EMBEDDED + SERVERS
PAIRS = list(itertools.product(KINDS, KINDS))
NAMES = st.text(
    alphabet=st.sampled_from(list("abcXYZ _\"'[]éßж€1")), min_size=1, max_size=12
).filter(lambda n: n.strip() == n and not n.startswith(("_", ".")) and "/" not in n)
UTC = dt.UTC
STAMPS = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))
COLUMNS = {
    "dec": (
        pa.decimal128(18, 4),
        st.decimals(
            min_value=-(10**13), max_value=10**13, places=4, allow_nan=False, allow_infinity=False
        ),
    ),
    "instant": (pa.timestamp("us", UTC), STAMPS.map(lambda d: d.replace(tzinfo=UTC))),
    "local": (pa.timestamp("us"), STAMPS),
    "day": (pa.date32(), st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))),
    "flag": (pa.bool_(), st.booleans()),
    "blob": (pa.binary(), st.binary(max_size=20)),
    "doc": (
        pa.string(),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(json.dumps),
    ),
    "text": (pa.string(), st.text(max_size=20).filter(lambda s: "\x00" not in s)),
    "count": (pa.int64(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
}


def url_for(
    kind: str,
    root: Path,
    name: str,
    servers: ServerDatabases | None = None,
    cleanup: contextlib.ExitStack | None = None,
) -> str:
    if kind in SERVERS:
        assert servers is not None and cleanup is not None
        if kind == "postgres":
            return cleanup.enter_context(pg_schema(servers.postgres("fidelity"), name))
        return mysql_url(cleanup.enter_context(fresh_mysql_database(f"conveyor_fid_{name}")))
    if kind == "sqlite":
        return f"sqlite:///{root / (name + '.db')}"
    if kind == "duckdb":
        return f"duckdb:///{root / (name + '.duckdb')}"
    if kind == "parquet":
        (root / name).mkdir(exist_ok=True)
        return f"file://{root / name}?format=parquet"
    return f"memory://{name}-{uuid.uuid4().hex}"


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, pa.Table]:
    chosen = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=5, unique=True))
    names = draw(st.lists(NAMES, min_size=len(chosen), max_size=len(chosen), unique_by=str.lower))
    count = draw(st.integers(min_value=0, max_value=6))
    arrays = {"id": pa.array(range(count), pa.int64())}
    for kind, name in zip(chosen, names, strict=True):
        arrow, values = COLUMNS[kind]
        arrays[name] = pa.array(
            draw(st.lists(st.none() | values, min_size=count, max_size=count)), arrow
        )
    return draw(NAMES), pa.table(arrays)


def write(url: str, table_name: str, data: pa.Table) -> None:
    connector = open_connector(url)
    try:
        ref = TableRef(table_name)
        connector.create_table(ref, TableSchema.from_arrow(data.schema, ("id",)))  # type: ignore[attr-defined]
        writer = connector.open_writer(ref, data.schema)  # type: ignore[attr-defined]
        for batch in data.to_batches():
            writer.write(batch)
        writer.close()
    finally:
        connector.close()


def read(url: str, table_name: str) -> pa.Table:
    connector = open_connector(url)
    try:
        return (
            connector.read(f"SELECT * FROM {quote(table_name, connector.dialect)}", 1000)
            .read_all()
            .sort_by("id")
        )  # type: ignore[attr-defined]
    finally:
        connector.close()


@pytest.mark.parametrize(("source_kind", "destination_kind"), PAIRS)
def test_values_round_trip_through_every_pair(
    source_kind: str,
    destination_kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    server_databases: ServerDatabases,
) -> None:
    servers_involved = {source_kind, destination_kind} & set(SERVERS)

    @settings(
        max_examples=8 if servers_involved else 12,  # a server round trip costs more
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(tables())
    def check(case: tuple[str, pa.Table]) -> None:
        table_name, data = case
        root = tmp_path_factory.mktemp("fidelity")
        with contextlib.ExitStack() as cleanup:
            source = url_for(source_kind, root, "src", server_databases, cleanup)
            destination = url_for(destination_kind, root, "dst", server_databases, cleanup)
            write(source, table_name, data)
            bracketed = "[" + table_name.replace("]", "]]") + "]"
            Job(source, destination, [f"REPLICATE {bracketed}"]).ok()
            landed = read(destination, table_name)
        assert landed.schema.names == data.schema.names
        for name in data.schema.names:
            expected, actual = data.column(name), landed.column(name)
            assert actual.type == expected.type, (name, actual.type, expected.type)
            assert actual.to_pylist() == expected.to_pylist(), name

    check()


def test_decimal_scale_and_precision_survive(
    tmp_path: Path, server_databases: ServerDatabases
) -> None:
    data = pa.table(
        {
            "id": [1, 2],
            "amount": pa.array(
                [Decimal("12345678901234.5678"), Decimal("-0.0001")], pa.decimal128(18, 4)
            ),
        }
    )
    for destination_kind in KINDS:
        with contextlib.ExitStack() as cleanup:
            source = url_for("sqlite", tmp_path, f"s-{destination_kind}")
            destination = url_for(
                destination_kind, tmp_path, f"d-{destination_kind}", server_databases, cleanup
            )
            write(source, "money", data)
            Job(source, destination, ["REPLICATE [money]"]).ok()
            assert (
                read(destination, "money").column("amount").to_pylist()
                == data.column("amount").to_pylist()
            )
