"""A streaming xlsx writer: Arrow batches in, an Office Open XML workbook out, flat memory.

An xlsx file is a ZIP of XML parts. The sheet parts are written through `zipfile` as
the batches arrive — each batch's rows are built as one string buffer by
`xlsx_cells` and deflated straight into the archive — and the small parts that list the
sheets (workbook, relationships, styles) are added at the end, when their number is
known. A table longer than Excel's 1,048,576 rows continues on further sheets, each with
the header row. Memory holds one chunk of rows, whatever the table's size.
"""

from __future__ import annotations

import re
import zipfile
from typing import IO
from xml.sax.saxutils import quoteattr

import pyarrow as pa

from conveyor.connectors.files import xlsx_cells
from conveyor.connectors.files.values import conform, flatten_for_text
from conveyor.errors import Unsupported

MAX_ROWS = 1_048_576
"""Rows of an Excel sheet, the header row included."""
MAX_COLUMNS = 16_384
CHUNK_ROWS = 32_768
"""Rows turned into XML at once: bounds memory, and is large enough to amortise kernels."""
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
CONTENT_TYPES = (
    _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    # Every other .xml part is a worksheet, so this file can come first, before their count is known.
    '<Default Extension="xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    _HEAD + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
STYLES = (
    _HEAD + f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="4"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/>'
    '<numFmt numFmtId="166" formatCode="hh:mm:ss"/>'
    '<numFmt numFmtId="167" formatCode="[h]:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="167" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
SHEET_START = (
    _HEAD + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
    '<sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    "</sheetView></sheetViews><sheetData>"
)
SHEET_END = "</sheetData></worksheet>"
_NOT_IN_TITLES = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def sheet_title(name: str) -> str:
    """A valid, at most 31-character sheet name for a table (Excel's rules)."""
    title = _NOT_IN_TITLES.sub("_", name).strip("'")[:31] or "Sheet"
    return "History_" if title.lower() == "history" else title


class XlsxSink:
    """Writes one table as an xlsx workbook, one sheet per 1,048,575 rows."""

    def __init__(
        self, path: str, schema: pa.Schema, title: str = "Sheet", max_rows: int = MAX_ROWS
    ) -> None:
        if len(schema) > MAX_COLUMNS:
            raise Unsupported(f"xlsx sheets hold at most {MAX_COLUMNS:,} columns")
        self.path = path
        self._schema = schema
        self._title = sheet_title(title)
        self._max_rows = max(2, max_rows)
        self._numbering = pa.array(range(CHUNK_ROWS), pa.int64())
        self._titles: list[str] = []
        self._entry: IO[bytes] | None = None
        self._row = 0  # rows written on the current sheet, header included
        self._zip = zipfile.ZipFile(
            path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True
        )
        try:
            self._zip.writestr("[Content_Types].xml", CONTENT_TYPES)
            self._zip.writestr("_rels/.rels", ROOT_RELS)
            self._open_sheet()
        except BaseException:
            self._zip.close()
            raise

    def _open_sheet(self) -> None:
        number = len(self._titles) + 1
        title = self._title if number == 1 else f"{self._title[:25]} ({number})"
        self._titles.append(title)
        self._entry = self._zip.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True)
        names = xlsx_cells.escape_text(pa.array(self._schema.names, pa.string())).to_pylist()
        header = "".join(
            f'<c r="{xlsx_cells.column_letters(i)}1" t="inlineStr" s="{xlsx_cells.STYLE_HEADER}">'
            f'<is><t xml:space="preserve">{name}</t></is></c>'
            for i, name in enumerate(names)
        )
        self._entry.write(f'{SHEET_START}<row r="1">{header}</row>'.encode())
        self._row = 1

    def _close_sheet(self) -> None:
        if self._entry is not None:
            self._entry.write(SHEET_END.encode())
            self._entry.close()
            self._entry = None

    def write(self, batch: pa.RecordBatch) -> None:
        """Append a batch's rows, starting a new sheet whenever one is full."""
        batch = flatten_for_text(conform(batch, self._schema))
        offset = 0
        while offset < batch.num_rows:
            if self._row >= self._max_rows:
                self._close_sheet()
                self._open_sheet()
            take = min(self._max_rows - self._row, batch.num_rows - offset, CHUNK_ROWS)
            chunk = batch.slice(offset, take)
            xml = xlsx_cells.rows_xml(list(chunk.columns), self._row + 1, self._numbering)
            assert self._entry is not None
            self._entry.write(xlsx_cells.joined(xml))  # type: ignore[arg-type]
            self._row += take
            offset += take

    def close(self) -> None:
        """Finish the last sheet and write the parts that list the sheets."""
        if self._zip.fp is None:
            return
        try:
            self._close_sheet()
            sheets = "".join(
                f'<sheet name={quoteattr(title)} sheetId="{n}" r:id="rId{n}"/>'
                for n, title in enumerate(self._titles, 1)
            )
            self._zip.writestr(
                "xl/workbook.xml",
                f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>{sheets}</sheets></workbook>',
            )
            relations = "".join(
                f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                for n in range(1, len(self._titles) + 1)
            )
            styles = len(self._titles) + 1
            relations += (
                f'<Relationship Id="rId{styles}" Type="{_REL}/styles" Target="styles.xml"/>'
            )
            self._zip.writestr(
                "xl/_rels/workbook.xml.rels",
                f'{_HEAD}<Relationships xmlns="{_PKG_REL}">{relations}</Relationships>',
            )
            self._zip.writestr("xl/styles.xml", STYLES)
        finally:
            self._zip.close()

    @property
    def sheets(self) -> list[str]:
        """The sheet names written so far."""
        return list(self._titles)
