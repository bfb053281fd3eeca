"""Just enough Markdown for the docs tests: sections by heading, pipe tables, and marked blocks.

The docs are written for people; these helpers read the few regular shapes the tests rely on (headings,
tables, `<!-- example: name -->` markers) and ignore everything else. Fenced code never counts as structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
_FENCE = re.compile(r"^\s*(```|~~~)")
_MARKER = re.compile(r"^<!-- example: (?P<name>[a-z_]+) -->$")


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, for error messages
    text: str
    in_code: bool  # inside a fenced block (the fence lines themselves count as code)


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def lines(text: str) -> list[Line]:
    result: list[Line] = []
    in_code = False
    for number, raw in enumerate(text.splitlines(), start=1):
        fence = bool(_FENCE.match(raw))
        result.append(Line(number, raw, in_code or fence))
        if fence:
            in_code = not in_code
    return result


def heading_depth(line: Line) -> int:
    """1 for `# x`, 2 for `## x` ...; 0 for a line that is no heading (or is inside code)."""
    match = re.match(r"^(#{1,6}) ", line.text)
    return 0 if line.in_code or not match else len(match.group(1))


def sections(body: list[Line], level: int) -> list[tuple[Line, list[Line]]]:
    """The headings of exactly `level` with their lines, up to the next heading of that level or higher."""
    result: list[tuple[Line, list[Line]]] = []
    current: tuple[Line, list[Line]] | None = None
    for line in body:
        depth = heading_depth(line)
        if depth and depth <= level:
            current = (line, []) if depth == level else None
            if current is not None:
                result.append(current)
        elif current is not None:
            current[1].append(line)
    return result


def heading_title(line: Line) -> str:
    return line.text.lstrip("#").strip()


def _cells(text: str) -> list[str]:
    """A table row's cells; `\\|` is a pipe inside a cell, as GitHub's Markdown reads it."""
    inner = text.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def tables(body: list[Line]) -> list[list[dict[str, str]]]:
    """Every pipe table in `body` (outside code), as rows keyed by the header's cells."""
    found: list[list[dict[str, str]]] = []
    index = 0
    while index < len(body):
        line = body[index]
        following = body[index + 1] if index + 1 < len(body) else None
        if (not line.in_code and line.text.startswith("|") and following is not None
                and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", following.text.strip())):
            header = _cells(line.text)
            rows: list[dict[str, str]] = []
            index += 2
            while index < len(body) and body[index].text.startswith("|") and not body[index].in_code:
                cells = _cells(body[index].text)
                assert len(cells) == len(header), f"line {body[index].number}: {len(cells)} cells, header has " \
                                                  f"{len(header)}"
                rows.append(dict(zip(header, cells, strict=True)))
                index += 1
            found.append(rows)
            continue
        index += 1
    return found


def marked(body: list[Line]) -> list[tuple[str, Line, list[Line]]]:
    """Each `<!-- example: name -->` marker with the block right after it (up to the next blank line after it,
    a fenced block whole)."""
    result: list[tuple[str, Line, list[Line]]] = []
    for index, line in enumerate(body):
        match = _MARKER.match(line.text) if not line.in_code else None
        if not match:
            continue
        block: list[Line] = []
        for following in body[index + 1:]:
            if not following.text.strip() and not following.in_code:
                break
            block.append(following)
        result.append((match.group("name"), line, block))
    return result


def code(block: list[Line]) -> list[str]:
    """The content lines of a fenced block."""
    return [line.text for line in block if line.in_code and not _FENCE.match(line.text)]
