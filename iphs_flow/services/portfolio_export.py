"""The portfolio's tables as CSV and Excel (.xlsx) files, for the page, the API and the console.

Plain values go out: amounts as whole kronor, shares and working days as numbers, dates
as ISO dates; the words (stage, outcome, headings) come from the caller's `words`, so
the page writes its reader's language and the console Swedish.

Excel files are written by XlsxWriter in constant-memory mode: each row goes to disk as
it is written, so a 20,000-row table costs the same memory as a short one, and text is
written as text (`write_string`), so a reason that starts with "=" is never a formula.
CSV cells of text that start with = + - @ get a leading apostrophe for the same reason
(OWASP's advice on CSV injection), since spreadsheet programs open CSV files too.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import xlsxwriter

from iphs_flow.services.queries.portfolio import Column, Table

# (kind, value) -> what the cell says, for stage, outcome and goal columns; headings and titles.
Words = Callable[[str], str]
Label = Callable[[Column, Any], Any]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _plain(column: Column, value: Any, label: Label | None) -> Any:
    if value is None:
        return ""
    if label is not None and column.kind in ("stage", "outcome", "term"):
        return label(column, value)
    return value


def _safe_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def table_csv(table: Table, words: Words = str, label: Label | None = None) -> str:
    """One table as CSV (RFC 4180, comma separated, a heading row first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([words(c.title) for c in table.columns])
    for row in table.rows:
        writer.writerow([_safe_text(v.isoformat() if isinstance(v, date) else _plain(c, v, label))
                         for c, v in zip(table.columns, row, strict=True)])
    return out.getvalue()


def _sheet_name(title: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "", title)[:31].strip() or "Tabell"
    base, n = name, 2
    while name.casefold() in used:
        suffix = f" ({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    used.add(name.casefold())
    return name


def tables_xlsx(tables: Iterable[Table], words: Words = str, label: Label | None = None) -> bytes:
    """One workbook with a sheet per table: a heading row, frozen, and cells typed and formatted."""
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"constant_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False})
    heading = book.add_format({"bold": True, "bottom": 1})
    formats = {"sek": book.add_format({"num_format": '# ##0 "kr"'}), "percent": book.add_format({"num_format": "0.0"}),
               "days": book.add_format({"num_format": "0.0"}), "int": book.add_format({"num_format": "0"}),
               "date": book.add_format({"num_format": "yyyy-mm-dd"})}
    used: set[str] = set()
    for table in tables:
        sheet = book.add_worksheet(_sheet_name(words(table.title), used))
        sheet.freeze_panes(1, 0)
        for col, column in enumerate(table.columns):
            sheet.set_column(col, col, 14 if column.kind != "text" else 28)
            sheet.write_string(0, col, words(column.title), heading)
        for r, row in enumerate(table.rows, start=1):
            for col, (column, value) in enumerate(zip(table.columns, row, strict=True)):
                value = _plain(column, value, label)
                if value == "":
                    continue
                if isinstance(value, bool):
                    sheet.write_boolean(r, col, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, col, value, formats.get(column.kind))
                elif isinstance(value, date):
                    sheet.write_datetime(r, col, value, formats["date"])
                else:
                    sheet.write_string(r, col, str(value))
    book.close()
    return output.getvalue()


def file_name(table_key: str | None, extension: str) -> str:
    return f"portfolj-{table_key}.{extension}" if table_key else f"portfolj.{extension}"
