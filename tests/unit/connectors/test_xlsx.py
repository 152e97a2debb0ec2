"""The xlsx writer: the workbook opens in openpyxl and python-calamine with the right types."""

from __future__ import annotations

import datetime as dt
import decimal
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from python_calamine import CalamineWorkbook

from conveyor.connectors.files.xlsx import MAX_ROWS, XlsxSink, sheet_title
from conveyor.connectors.files.xlsx_cells import MAX_TEXT, column_letters
from conveyor.errors import Unsupported


def write(path: Path, table: pa.Table, title: str = "data", **kwargs: int) -> Path:
    sink = XlsxSink(str(path), table.schema, title, **kwargs)
    for batch in table.to_batches(max_chunksize=3 if table.num_rows < 100 else 65_536):
        sink.write(batch)
    sink.close()
    return path


def typed() -> pa.Table:
    utc = dt.UTC
    return pa.table(
        {
            "id": pa.array([1, 2, None], pa.int64()),
            "small": pa.array([-1, 0, 7], pa.int8()),
            "price": pa.array(
                [decimal.Decimal("1.50"), None, decimal.Decimal("-3.25")], pa.decimal128(10, 2)
            ),
            "ratio": [0.1, -2.5, 1e20],
            "name": ["plain", "a & b <c> \"q\" 'x'", None],
            "day": pa.array([dt.date(2024, 1, 2), None, dt.date(1900, 3, 1)]),
            "at": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2000, 2, 29, 23, 59, 59), None],
                pa.timestamp("us"),
            ),
            "zoned": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc)] * 3,
                pa.timestamp("ms", "Europe/Paris"),
            ),
            "flag": [True, False, None],
            "clock": pa.array([dt.time(1, 2, 3), None, dt.time(23, 59, 59)]),
        }
    )


def test_types_read_back_in_openpyxl(tmp_path: Path) -> None:
    book = openpyxl.load_workbook(write(tmp_path / "t.xlsx", typed()))
    sheet = book["data"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == tuple(typed().column_names)
    first, second, third = rows[1:]
    assert first[:5] == (1, -1, 1.5, 0.1, "plain")
    assert isinstance(first[0], int) and isinstance(first[2], float)
    assert first[5] == dt.datetime(2024, 1, 2) and first[6] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert first[7] == dt.datetime(2024, 1, 2, 4, 4, 5)  # the wall clock in the column's zone
    assert first[8] is True and first[9] == dt.time(1, 2, 3)
    assert second[2] is None and second[4] == "a & b <c> \"q\" 'x'" and second[8] is False
    assert second[6] == dt.datetime(2000, 2, 29, 23, 59, 59)
    assert third[0] is None and third[3] == 1e20 and third[5] == dt.datetime(1900, 3, 1)
    assert sheet.cell(2, 6).number_format == "yyyy-mm-dd"
    assert sheet.cell(2, 7).number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet.cell(1, 1).font.b  # a bold header


def test_types_read_back_in_calamine(tmp_path: Path) -> None:
    book = CalamineWorkbook.from_path(str(write(tmp_path / "t.xlsx", typed())))
    assert book.sheet_names == ["data"]
    header, first, second, _ = book.get_sheet_by_index(0).to_python()
    assert header == typed().column_names
    assert first[:5] == [1.0, -1.0, 1.5, 0.1, "plain"]
    assert first[5] == dt.date(2024, 1, 2)
    assert first[6] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert first[8] is True and first[9] == dt.time(1, 2, 3)
    assert second[4] == "a & b <c> \"q\" 'x'" and second[8] is False


def test_text_excel_cannot_hold_is_escaped_or_kept_as_text(tmp_path: Path) -> None:
    table = pa.table(
        {
            "text": ["tab\tand\nnewline", "bell\x07 and nul\x00", "_x0041_ stays", "  padded  "],
            "huge": pa.array([2**60, -(2**60), 5, None], pa.int64()),
            "old": pa.array([dt.date(1899, 12, 31), dt.date(1, 1, 1), dt.date(9999, 12, 31), None]),
            "nan": [float("nan"), float("inf"), 1.0, None],
        }
    )
    rows = CalamineWorkbook.from_path(str(write(tmp_path / "t.xlsx", table))).get_sheet_by_index(0)
    values = rows.to_python()[1:]
    assert [r[0] for r in values] == [
        "tab\tand\nnewline",
        "bell\x07 and nul\x00",
        "_x0041_ stays",
        "  padded  ",
    ]
    assert [r[1] for r in values][:3] == [str(2**60), str(-(2**60)), 5.0]  # beyond 2^53: text
    assert [r[2] for r in values][:3] == ["1899-12-31", "0001-01-01", dt.date(9999, 12, 31)]
    assert [r[3] for r in values] == ["", "", 1.0, ""]  # non-finite floats stay empty


def test_long_text_is_cut_at_excels_cell_limit(tmp_path: Path) -> None:
    table = pa.table({"text": ["é" * (MAX_TEXT + 10)]})
    book = openpyxl.load_workbook(write(tmp_path / "t.xlsx", table))
    assert len(book.active.cell(2, 1).value) == MAX_TEXT


def test_nested_and_binary_values_become_text(tmp_path: Path) -> None:
    table = pa.table({"tags": pa.array([[1, 2], None]), "blob": pa.array([b"\x00\x01", b"x"])})
    rows = list(openpyxl.load_workbook(write(tmp_path / "t.xlsx", table)).active.values)
    assert rows[1:] == [("[1,2]", "AAE="), (None, "eA==")]


def test_long_tables_continue_on_further_sheets_with_the_header(tmp_path: Path) -> None:
    table = pa.table({"n": pa.array(range(10), pa.int64()), "s": [f"v{i}" for i in range(10)]})
    book = openpyxl.load_workbook(write(tmp_path / "t.xlsx", table, "orders", max_rows=4))
    assert book.sheetnames == ["orders", "orders (2)", "orders (3)", "orders (4)"]
    seen = []
    for sheet in book:
        rows = list(sheet.values)
        assert rows[0] == ("n", "s") and len(rows) <= 4
        seen += [r[0] for r in rows[1:]]
    assert seen == list(range(10))


def test_the_real_row_limit(tmp_path: Path) -> None:
    rows = MAX_ROWS + 5  # one full sheet (header + 1,048,575 rows), then 6 rows
    table = pa.table({"n": pa.array(range(rows), pa.int32())})
    sink = XlsxSink(str(tmp_path / "big.xlsx"), table.schema, "big")
    for batch in table.to_batches(max_chunksize=200_000):
        sink.write(batch)
    sink.close()
    book = CalamineWorkbook.from_path(str(tmp_path / "big.xlsx"))
    assert book.sheet_names == ["big", "big (2)"]
    first = book.get_sheet_by_index(0)
    assert first.height == MAX_ROWS
    last = book.get_sheet_by_index(1).to_python()
    assert last[0] == ["n"] and [r[0] for r in last[1:]] == [
        float(n) for n in range(MAX_ROWS - 1, rows)
    ]


def test_an_empty_table_is_a_header_row(tmp_path: Path) -> None:
    table = pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())})
    assert list(openpyxl.load_workbook(write(tmp_path / "t.xlsx", table)).active.values) == [
        ("a", "b")
    ]


def test_the_archive_streams_sheets_and_lists_them_at_the_end(tmp_path: Path) -> None:
    names = zipfile.ZipFile(write(tmp_path / "t.xlsx", typed())).namelist()
    assert names[0] == "[Content_Types].xml"
    assert "xl/worksheets/sheet1.xml" in names and names[-1] == "xl/styles.xml"


def test_sheet_titles_follow_excels_rules() -> None:
    assert sheet_title("orders") == "orders"
    assert sheet_title("a/b:c*d?[e]\\f") == "a_b_c_d__e__f"
    assert len(sheet_title("x" * 50)) == 31
    assert sheet_title("'") == "Sheet" and sheet_title("History") == "History_"


def test_column_letters() -> None:
    assert [column_letters(i) for i in (0, 25, 26, 701, 702, 16383)] == [
        "A",
        "Z",
        "AA",
        "ZZ",
        "AAA",
        "XFD",
    ]


def test_too_many_columns(tmp_path: Path) -> None:
    schema = pa.schema([pa.field(f"c{i}", pa.int8()) for i in range(16_385)])
    with pytest.raises(Unsupported, match="16,384"):
        XlsxSink(str(tmp_path / "t.xlsx"), schema)


def test_many_rows_are_built_by_kernels_not_per_row(tmp_path: Path) -> None:
    n = 200_000
    numbers = pa.array(range(n), pa.int64())
    table = pa.table({"n": numbers, "s": pc.cast(numbers, pa.string())})
    write(tmp_path / "t.xlsx", table)
    book = CalamineWorkbook.from_path(str(tmp_path / "t.xlsx")).get_sheet_by_index(0)
    assert book.height == n + 1
