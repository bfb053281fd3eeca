"""Rows on the terminal: a readable table (rich), CSV or JSON, and progress bars on stderr."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

FORMATS = ("table", "csv", "json")
_NUMERIC = (int, float)


def cell(value: Any, name: str = "") -> str:
    """How a JSON value reads in a table cell; rates and shares as percentages, instants to the minute."""
    if value is None:
        return ""
    if isinstance(value, float | int) and not isinstance(value, bool) and (name.endswith("_rate") or name == "share"):
        return f"{value * 100:.1f}%"
    if isinstance(value, str) and len(value) == 24 and value.endswith("Z") and value[10:11] == "T":
        return f"{value[:10]} {value[11:16]}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4f}"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    return str(value)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "",
                out: TextIO | None = None) -> None:
    console = Console(file=out or sys.stdout, soft_wrap=False, width=None if (out or sys.stdout).isatty() else 200)
    table = Table(title=title or None, show_lines=False, header_style="bold")
    for name in columns:
        numeric = bool(rows) and all(isinstance(r.get(name), _NUMERIC) or r.get(name) is None for r in rows) and any(
            isinstance(r.get(name), _NUMERIC) and not isinstance(r.get(name), bool) for r in rows)
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(name), name) for name in columns))
    console.print(table)


def write_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str], out: TextIO | None = None) -> None:
    writer = csv.writer(out or sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(name) is None else _csv_value(row.get(name)) for name in columns])


def _csv_value(value: Any) -> str:
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_json(value: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def progress(description: str) -> Progress:
    """A progress bar on stderr, shown only when stderr is a terminal (a pipe or a log gets none)."""
    console = Console(file=sys.stderr)
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, disable=not console.is_terminal, transient=False,
    )
