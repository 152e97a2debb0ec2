"""Type fidelity through every connector: what is written is what is read.

Exact connectors (SQLite, DuckDB, parquet, memory) must give back the same Arrow types and
values for the canonical types; CSV and JSON carry only text, so their values are compared
as text once DuckDB has inferred the types back.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.connectors.base import TableRef
from tests.unit.connectors.conftest import Flavor, load, read_table

UTC = dt.UTC
DEC = pa.decimal128(38, 9)
TS_UTC = pa.timestamp("us", "UTC")

EDGE = pa.table(
    {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "big": pa.array([2**63 - 1, -(2**63), 0, None], pa.int64()),
        "amount": pa.array(
            [
                Decimal("12345678901234567890123456789.123456789"),
                Decimal("-0.000000001"),
                Decimal("99999999999999999999999999999.999999999"),
                None,
            ],
            DEC,
        ),
        "ratio": pa.array([1.5, -2.25e-300, 1e300, None], pa.float64()),
        "flag": pa.array([True, False, None, True], pa.bool_()),
        "day": pa.array([dt.date(2024, 2, 29), dt.date(1, 1, 1), dt.date(9999, 12, 31), None]),
        "at": pa.array(
            [
                dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
                dt.datetime(1970, 1, 1),
                dt.datetime(1900, 1, 1, 0, 0, 0, 1),
                None,
            ],
            pa.timestamp("us"),
        ),
        "at_utc": pa.array(
            [
                dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
                dt.datetime(1970, 1, 1, tzinfo=UTC),
                dt.datetime(2038, 1, 19, 3, 14, 8, 1, tzinfo=UTC),
                None,
            ],
            pa.timestamp("us", "UTC"),
        ),
        "clock": pa.array([dt.time(23, 59, 59, 999999), dt.time(0), None, dt.time(12)]),
        "text": pa.array(
            [
                "héllo wörld",
                "emoji 😀🎉 表",
                'quote " comma , newline \n, cr \r, nul \x00 end',
                None,
            ]
        ),
        "blob": pa.array([b"\x00\x01\xff", b"", None, b"plain"], pa.binary()),
        "nothing": pa.array([None, None, None, None], pa.string()),
    }
)


def test_edge_values_round_trip(connector: Any, flavor: Flavor) -> None:
    load(connector, "edge", EDGE, primary_key=("id",), batch_rows=2)
    result = read_table(connector, "edge", order_by="id")
    assert result.column_names == EDGE.column_names
    if flavor.exact:
        assert result.schema == EDGE.schema
        assert result.equals(EDGE), _diff(result, EDGE)
    else:
        _assert_same_text(result, EDGE)


def test_all_null_first_batch(connector: Any, flavor: Flavor) -> None:
    """A column NULL throughout the first batch keeps its type in later batches."""
    rows = 3000
    nulls = [None] * 2000
    data = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "n": pa.array(nulls + list(range(1000)), pa.int64()),
            "s": pa.array(nulls + ["x"] * 1000, pa.string()),
            "d": pa.array(nulls + [Decimal("1.5")] * 1000, DEC),
            "t": pa.array(
                nulls + [dt.datetime(2020, 1, 1, tzinfo=UTC)] * 1000, pa.timestamp("us", "UTC")
            ),
            "b": pa.array(nulls + [b"\x00"] * 1000, pa.binary()),
        }
    )
    load(connector, "late", data, batch_rows=500)
    result = read_table(connector, "late", order_by="id", batch_size=500)
    if flavor.exact:
        assert result.schema == data.schema
        assert result.equals(data), _diff(result, data)
    else:
        _assert_same_text(result, data)


# --- the property: random tables round-trip --------------------------------------------------

_counter = itertools.count()
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
COLUMN_TYPES: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float64": (
        pa.float64(),
        st.floats(allow_nan=False, allow_infinity=False, width=64).map(lambda f: f + 0.0),
    ),
    "decimal": (
        DEC,
        st.decimals(-(10**29) + 1, 10**29 - 1, places=9, allow_nan=False, allow_infinity=False),
    ),
    "string": (pa.string(), _text.map(lambda s: "x" + s)),  # "x": never sniffed as a number
    "binary": (pa.binary(), st.binary(max_size=12)),
    "bool": (pa.bool_(), st.booleans()),
    "date": (pa.date32(), st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31))),
    "timestamp": (
        pa.timestamp("us"),
        st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)),
    ),
    "timestamp_utc": (
        pa.timestamp("us", "UTC"),
        st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1), timezones=st.just(UTC)),
    ),
}


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMN_TYPES)), min_size=1, max_size=4))
    rows = draw(st.integers(0, 20))
    columns = {"id": pa.array(range(rows), pa.int64())}
    for i, kind in enumerate(kinds):
        arrow_type, values = COLUMN_TYPES[kind]
        column = draw(st.lists(st.none() | values, min_size=rows, max_size=rows))
        columns[f"c{i} {kind}"] = pa.array(column, arrow_type)
    return pa.table(columns)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=tables())
def test_random_tables_round_trip(connector: Any, flavor: Flavor, data: pa.Table) -> None:
    name = f"random_{next(_counter)}"
    load(connector, name, data, batch_rows=7)
    result = read_table(connector, name, order_by="id", batch_size=5)
    assert result.num_rows == data.num_rows
    if flavor.exact:
        assert result.schema == data.schema
        assert result.equals(data), _diff(result, data)
    elif data.num_rows:
        _assert_same_text(result, data)
    connector.drop_table(TableRef(name))


# --- comparing text formats -------------------------------------------------------------------


def _as_text(value: Any) -> str | None:
    """A value as text that survives CSV or JSON and DuckDB's type inference."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, Decimal)):
        return repr(float(value) + 0.0)  # numbers may come back as int, float or decimal
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()  # text formats hold binary as base64
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _text_column(values: list[Any]) -> list[str | None]:
    return [_as_text(v) for v in values]


def _assert_same_text(result: pa.Table, expected: pa.Table) -> None:
    for name in expected.column_names:
        got = _text_column(result.column(name).to_pylist())
        want = _text_column(expected.column(name).to_pylist())
        assert got == want, f"{name}: {got} != {want}"


def _diff(result: pa.Table, expected: pa.Table) -> str:
    return "; ".join(
        f"{n}: {result.column(n).to_pylist()} != {expected.column(n).to_pylist()}"
        for n in expected.column_names
        if not result.column(n).equals(expected.column(n))
    )
