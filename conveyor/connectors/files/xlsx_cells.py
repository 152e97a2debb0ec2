"""Arrow columns as SpreadsheetML cell XML, computed column by column with pyarrow.

Every function here turns one Arrow array into an array of `<c>` elements (null where
the value is null, so that the row leaves the cell out) without a Python object per
value: a 5M-row export is a few hundred pyarrow kernel calls, not 50M string formats.

Types: numbers as numbers (`<v>`), booleans as `t="b"`, dates, timestamps and times as
Excel serial numbers (days since 1899-12-30) with a date number format, everything else
as inline strings. Where Excel cannot hold a value exactly, it becomes text rather than
a wrong number: integers beyond 2^53, dates before 1900-03-01 (Excel's calendar starts
in 1900 and counts a 29 February 1900 that never was), and non-finite floats are left
empty.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from conveyor.errors import DataError

TEXT = pa.large_string()
EPOCH_SERIAL = 25_569
"""The Excel serial number of 1970-01-01 (days since 1899-12-30)."""
FIRST_SAFE_SERIAL = 61
"""1900-03-01: from here on Excel's serial numbers and the real calendar agree."""
END_SERIAL = 2_958_466
"""10000-01-01: Excel's calendar ends the day before."""
MAX_TEXT = 32_767
"""The most characters an Excel cell holds."""
EXACT_INTEGER = 2**53

STYLE_DATE, STYLE_DATETIME, STYLE_TIME, STYLE_DURATION, STYLE_HEADER = 1, 2, 3, 4, 5
"""Indexes into the workbook's `cellXfs` (see `xlsx.STYLES`)."""
_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))] + [
    "\ufffe",
    "\uffff",
]
_CONTROL_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}]"
_LITERAL_ESCAPE = r"_x[0-9A-Fa-f]{4}_"
_SPECIAL = r'[&<>"\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}]|_x[0-9A-Fa-f]{4}_'


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, TEXT)


def column_letters(index: int) -> str:
    """`A`, `B`, … `Z`, `AA`, … for a 0-based column index."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape_text(values: pa.Array) -> pa.Array:
    """Text safe inside an XML element, in Excel's own escaping for what XML cannot hold.

    `& < > "` become entities; characters XML 1.0 forbids become `_xHHHH_` (ECMA-376's
    escape, which Excel and its readers decode); a literal `_xHHHH_` in the data is
    itself escaped (`_x005F_xHHHH_`) so that it reads back unchanged. Cells hold at
    most 32,767 characters: longer text is cut there. One scan finds whether anything
    needs escaping at all, which is the common case worth making cheap.
    """
    values = pc.cast(values, TEXT)
    if not len(values):
        return values
    if (pc.max(pc.utf8_length(values)).as_py() or 0) > MAX_TEXT:
        values = pc.utf8_slice_codeunits(values, 0, MAX_TEXT)
    if not pc.any(pc.match_substring_regex(values, _SPECIAL)).as_py():
        return values
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        values = pc.replace_substring(values, char, entity)
    if pc.any(pc.match_substring_regex(values, _LITERAL_ESCAPE)).as_py():
        values = pc.replace_substring_regex(values, r"_(x[0-9A-Fa-f]{4}_)", r"_x005F_\1")
    if pc.any(pc.match_substring_regex(values, _CONTROL_PATTERN)).as_py():
        for char in _CONTROL:
            values = pc.replace_substring(values, char, f"_x{ord(char):04X}_")
    return values


def _blank_edges(text: pa.Array) -> bool:
    """Whether some text starts or ends with white space (which XML would let go)."""
    trimmed = pc.sum(pc.binary_length(pc.utf8_trim_whitespace(text))).as_py() or 0
    return trimmed != (pc.sum(pc.binary_length(text)).as_py() or 0)


def _cell(attributes: str, value: pa.Array, open_: str, close: str) -> pa.Array:
    """`<c{attributes}>{open}{value}{close}</c>`, null where `value` is null.

    Cells carry no reference (`r="B7"`): they are in column order and a null is an
    empty `<c/>` (see `rows_xml`), which saves a fifth of the sheet's bytes.
    """
    return pc.binary_join_element_wise(
        _s(f"<c{attributes}>{open_}"), value, _s(f"{close}</c>"), _s(""), null_handling="emit_null"
    )


def text_cells(values: pa.Array) -> pa.Array:
    """Inline strings; `xml:space="preserve"` only where some text starts or ends blank."""
    text = escape_text(values)
    opening = '<is><t xml:space="preserve">' if _blank_edges(text) else "<is><t>"
    return _cell(' t="inlineStr"', text, opening, "</t></is>")


def number_cells(numbers: pa.Array, style: int = 0) -> pa.Array:
    """Numeric cells from text that is already a valid xsd:double."""
    attributes = f' s="{style}"' if style else ""
    return _cell(attributes, pc.cast(numbers, TEXT), "<v>", "</v>")


def _choose(condition: pa.Array, when_true: pa.Array, otherwise: pa.Array) -> pa.Array:
    """Per row, one cell or the other (a null condition keeps the null cell)."""
    return pc.if_else(pc.fill_null(condition, False), when_true, otherwise)


def serial_cells(serial: pa.Array, style: int, fallback: Callable[[], pa.Array]) -> pa.Array:
    """Dates as serial numbers; those outside Excel's calendar (before 1900-03-01) as text."""
    numbers = number_cells(serial, style)
    outside = pc.or_(pc.less(serial, FIRST_SAFE_SERIAL), pc.greater_equal(serial, END_SERIAL))
    if not pc.any(outside).as_py():
        return numbers
    return _choose(outside, text_cells(fallback()), numbers)


def cells(values: pa.Array) -> pa.Array:
    """The cell XML of one column, null where the value is."""
    t = values.type
    if pa.types.is_null(t):
        return pa.nulls(len(values), TEXT)
    if pa.types.is_boolean(t):
        flag = pc.if_else(values, _s("1"), _s("0"))
        return _cell(' t="b"', flag, "<v>", "</v>")
    if pa.types.is_integer(t):
        numbers = number_cells(values)
        if t.bit_width < 64:
            return numbers
        huge = pc.greater(values, pa.scalar(EXACT_INTEGER, t))
        if pa.types.is_signed_integer(t):
            huge = pc.or_(huge, pc.less(values, pa.scalar(-EXACT_INTEGER, t)))
        if not pc.any(huge).as_py():
            return numbers
        return _choose(huge, text_cells(values), numbers)
    if pa.types.is_floating(t):
        finite = pc.if_else(pc.is_finite(values), values, pa.scalar(None, t))
        return number_cells(finite)
    if pa.types.is_decimal(t):
        return number_cells(values)
    if pa.types.is_date(t):
        days = pc.cast(pc.cast(values, pa.date32()), pa.int32())
        serial = pc.add(pc.cast(days, pa.int64()), EPOCH_SERIAL)
        return serial_cells(serial, STYLE_DATE, lambda: pc.cast(values, TEXT))
    if pa.types.is_timestamp(t):
        wall = pc.local_timestamp(values) if t.tz else values
        ticks = pc.cast(pc.cast(wall, pa.timestamp(t.unit)), pa.int64())
        serial = pc.add(pc.divide(pc.cast(ticks, pa.float64()), _PER_DAY[t.unit]), EPOCH_SERIAL)
        iso = lambda: pc.strftime(wall, format="%Y-%m-%d %H:%M:%S")  # noqa: E731
        return serial_cells(serial, STYLE_DATETIME, iso)
    if pa.types.is_time(t) or pa.types.is_duration(t):
        ticks = pc.cast(values, pa.int64())
        fraction = pc.divide(pc.cast(ticks, pa.float64()), _PER_DAY[t.unit])
        return number_cells(fraction, STYLE_TIME if pa.types.is_time(t) else STYLE_DURATION)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return text_cells(values)
    try:
        return text_cells(pc.cast(values, TEXT))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"a {t} column cannot be written to xlsx: {exc}") from exc


def rows_xml(columns: list[pa.Array], first_row: int, numbering: pa.Array) -> pa.Array:
    """`<row r="N">…cells…</row>` per row, numbered from `first_row` (1-based)."""
    count = len(columns[0]) if columns else 0
    rows = pc.cast(pc.add(numbering.slice(0, count), first_row), TEXT)
    parts = []
    for values in columns:
        column = cells(values)
        parts.append(pc.fill_null(column, _s("<c/>")) if column.null_count else column)
    return pc.binary_join_element_wise(
        _s('<row r="'), rows, _s('">'), *parts, _s("</row>"), _s(""), null_handling="skip"
    )


def joined(values: pa.Array) -> pa.Buffer:
    """All values of a string array back to back, without copying them."""
    offsets = values.buffers()[1]
    data = values.buffers()[2]
    width = 8 if pa.types.is_large_string(values.type) else 4
    view = memoryview(offsets)
    start = int.from_bytes(view[values.offset * width : (values.offset + 1) * width], "little")
    end_at = (values.offset + len(values)) * width
    end = int.from_bytes(view[end_at : end_at + width], "little")
    if data is None:
        return pa.py_buffer(b"")
    return data.slice(start, end - start)
