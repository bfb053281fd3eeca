"""`tracker conversions import FILE.csv`: offline and point-of-sale orders, sent in chunks with a progress bar.

The file goes up as it is, cut at record boundaries into chunks that each repeat the header, so the API
reads every chunk as it would read the whole file; the line numbers of its errors are turned back into
lines of the file.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from typing import Any

from tracker.client.admin_api import AdminApi, ClientError

CHUNK_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Chunk:
    body: bytes
    header_lines: int
    first_line: int  # the file line of the chunk's first data line
    rows: int

    def file_line(self, line: int) -> int:
        return line if line <= self.header_lines else self.first_line + line - self.header_lines - 1


@dataclass
class ImportTotals:
    accepted: int = 0
    duplicates: int = 0
    conflicts: list[Any] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def chunks(text: str, rows_per_chunk: int = CHUNK_ROWS) -> list[Chunk]:
    lines = text.splitlines(keepends=True)
    if not lines:
        return [Chunk(b"", 0, 1, 0)]
    delimiter = max((",", ";", "\t"), key=lines[0].count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        next(reader)
    except (StopIteration, csv.Error):
        return [Chunk(text.encode("utf-8", "surrogateescape"), len(lines), len(lines) + 1, 0)]
    header_lines = reader.line_num
    header = "".join(lines[:header_lines])
    ends = []  # the file line each record ends on
    try:
        for _ in reader:
            ends.append(reader.line_num)
    except csv.Error:  # badly quoted from here on: send the rest as one piece, the API names the line
        ends.append(len(lines))
    result, start = [], header_lines + 1
    for i in range(0, len(ends), rows_per_chunk):
        end = ends[min(i + rows_per_chunk, len(ends)) - 1]
        body = header + "".join(lines[start - 1:end])
        rows = min(rows_per_chunk, len(ends) - i)
        result.append(Chunk(body.encode("utf-8", "surrogateescape"), header_lines, start, rows))
        start = end + 1
    return result or [Chunk(header.encode("utf-8", "surrogateescape"), header_lines, header_lines + 1, 0)]


def import_conversions(api: AdminApi, path: str, progress_bar: Any) -> ImportTotals:
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise ClientError(f"{path}: {exc.strerror}") from None
    text = raw.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    pieces = chunks(text)
    totals = ImportTotals()
    with progress_bar as bar:
        task = bar.add_task("importing conversions", total=sum(c.rows for c in pieces))
        for chunk in pieces:
            answer = api.post_csv("/v1/conversions/import", chunk.body)
            totals.accepted += answer.get("accepted", 0)
            totals.duplicates += answer.get("duplicates", 0)
            conflicts = answer.get("conflicts", [])
            totals.conflicts += conflicts if isinstance(conflicts, list) else [None] * int(conflicts)
            totals.errors += [{**e, "line": chunk.file_line(int(e.get("line", 0)))} for e in answer.get("errors", [])]
            for conflict in conflicts if isinstance(conflicts, list) else ():
                if isinstance(conflict, dict) and "line" in conflict:
                    conflict["line"] = chunk.file_line(int(conflict["line"]))
            bar.advance(task, chunk.rows)
    return totals


def report_totals(path: str, totals: ImportTotals) -> int:
    for error in totals.errors:
        print(f"{path} line {error['line']}: {error.get('error', '')}", file=sys.stderr)
    for conflict in totals.conflicts:
        if isinstance(conflict, dict):
            where = f"line {conflict['line']}: " if "line" in conflict else ""
            print(f"{path} {where}conflict: order {conflict.get('order_id')} ({conflict.get('type')}) was recorded "
                  "with another value or currency; kept as it was", file=sys.stderr)
    print(f"accepted {totals.accepted:,}, duplicates {totals.duplicates:,}, conflicts {len(totals.conflicts):,}, "
          f"errors {len(totals.errors):,}")
    return 1 if totals.errors or totals.conflicts else 0
