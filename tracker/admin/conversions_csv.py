"""The CSV of `POST /v1/conversions/import`: a header row of conversion field names, then one conversion a line.

Reading is forgiving where spreadsheets differ and strict where data could be lost silently. Forgiving: a
UTF-8 byte order mark (Excel's "CSV UTF-8"), `;` or tab instead of `,` (Excel in many locales), header names
in any case, cells padded with spaces, blank lines, CRLF. Strict: an unknown column refuses the whole file (a
typo such as `valeu` would otherwise drop every amount), and so does a repeated one; a line that is not UTF-8,
is badly quoted or has the wrong number of cells is an error of that line only, named by its line number
(the header is line 1; a quoted cell may span lines, and a row is named by the line it starts on).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

DELIMITERS = (",", ";", "\t")


class InvalidCsv(ValueError):
    """The file as a whole cannot be read (no header, an unknown or repeated column)."""


class TooManyRows(ValueError):
    """More data rows than one request may carry."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    fields: dict[str, str]  # the non-empty cells, by field name


@dataclass(frozen=True, slots=True)
class CsvError:
    line: int
    error: str


def read_csv(body: bytes, allowed: frozenset[str], max_rows: int) -> tuple[list[CsvRow], list[CsvError]]:
    """The rows of `body` and the lines that could not be read, both in file order."""
    text = body.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    header_line, _, _ = text.partition("\n")
    delimiter = _delimiter(header_line, allowed)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header = _header(reader, allowed)
    rows: list[CsvRow] = []
    errors: list[CsvError] = []
    for line, cells, problem in _records(reader):
        if problem:
            errors.append(CsvError(line, problem))
        elif cells is not None and any(cell.strip() for cell in cells):
            if len(rows) + len(errors) >= max_rows:
                raise TooManyRows(f"more than {max_rows} rows; split the file")
            if len(cells) != len(header):
                errors.append(CsvError(line, f"expected {len(header)} cells like the header, got {len(cells)}"))
            elif any(_undecodable(cell) for cell in cells):
                errors.append(CsvError(line, "not UTF-8 text (save the file as CSV UTF-8)"))
            else:
                cells_by_name = zip(header, cells, strict=True)
                rows.append(CsvRow(line, {name: cell.strip() for name, cell in cells_by_name if cell.strip()}))
    return rows, errors


def _delimiter(header_line: str, allowed: frozenset[str]) -> str:
    """The delimiter that splits the header into known field names; ',' when none does (the error names why)."""
    for delimiter in DELIMITERS:
        names = [_name(cell) for cell in header_line.rstrip("\r").split(delimiter)]
        if len(names) > 1 and all(name in allowed for name in names):
            return delimiter
    return ","


def _name(cell: str) -> str:
    return cell.strip().strip('"').strip().lower()


def _header(reader: Iterator[list[str]], allowed: frozenset[str]) -> list[str]:
    try:
        cells = next(reader)
    except StopIteration:
        raise InvalidCsv("body: empty; expected a header row of field names") from None
    except csv.Error:
        raise InvalidCsv("line 1: the header row is not valid CSV") from None
    names = [_name(cell) for cell in cells]
    for name in names:
        if _undecodable(name):
            raise InvalidCsv("line 1: not UTF-8 text (save the file as CSV UTF-8)")
        if name not in allowed:
            shown = name[:40] if name else "(empty)"
            raise InvalidCsv(f"line 1: {shown!r} is not a field (allowed: {', '.join(sorted(allowed))})")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidCsv(f"line 1: {repeated[0]!r} appears more than once")
    return names


def _records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str] | None, str]]:
    """(first line, cells, '') per record, or (line, None, problem) for a record the csv module refuses."""
    line_num = getattr(reader, "line_num", 1)
    while True:
        start = line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line_num = getattr(reader, "line_num", line_num + 1)
            yield start, None, f"not valid CSV ({str(exc)[:80]})"
            continue
        line_num = getattr(reader, "line_num", line_num + 1)
        yield start, cells, ""


def _undecodable(cell: str) -> bool:
    # surrogateescape turns each byte that is not UTF-8 into a lone surrogate.
    return any("\udc80" <= char <= "\udcff" for char in cell)
