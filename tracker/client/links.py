"""`tracker links create | import | list`."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from shortlinks.recipient import InvalidRecipient, normalise_recipient
from tracker.client.admin_api import AdminApi, ClientError
from tracker.client.output import print_table, progress, write_csv, write_json

BATCH = 10_000
PAGE = 1000
UTM_KEYS = ("source", "medium", "campaign", "content", "term")
RECIPIENT_COLUMNS = ("recipient", "phone", "email")
# CSV columns that set a row's link fields (anything else is carried through to the output untouched)
FIELD_COLUMNS = ("destination", "channel", "campaign", "message", "tags", "expires_at", "domain",
                 *(f"utm_{key}" for key in UTM_KEYS))
OUTPUT_COLUMNS = ("recipient_ref", "code", "short_url")
LIST_COLUMNS = ("code", "short_url", "destination", "campaign", "message", "tags", "created_at", "disabled")


@dataclass(frozen=True)
class LinkOptions:
    """Link fields given on the command line; a CSV column of the same name wins for its row."""

    destination: str = ""
    channel: str = ""
    campaign: str = ""
    message: str = ""
    tags: tuple[str, ...] = ()
    expires_at: str = ""
    domain: str = ""
    utm: Mapping[str, str] = field(default_factory=dict)

    def fields(self, row: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The JSON link fields, with the row's cells (named as in FIELD_COLUMNS) over these options."""
        row = row or {}
        body: dict[str, Any] = {}
        for name in ("destination", "channel", "campaign", "message", "expires_at", "domain"):
            value = row.get(name) or getattr(self, name)
            if value:
                body[name] = value
        tags = [t.strip() for t in row["tags"].split("|") if t.strip()] if row.get("tags") else list(self.tags)
        if tags:
            body["tags"] = tags
        utm = {key: row.get(f"utm_{key}") or self.utm.get(key, "") for key in UTM_KEYS}
        if any(utm.values()):
            body["utm"] = {key: value for key, value in utm.items() if value}
        return body


def create(api: AdminApi, options: LinkOptions, code: str, recipient: str, output: str) -> None:
    body = options.fields()
    if not body.get("destination"):
        raise ClientError("a destination URL is required")
    if code:
        body["code"] = code
    if recipient:
        body["recipient"] = recipient
    link = api.post_json("/v1/links", body)
    if output == "json":
        write_json(link)
    elif output == "table":
        print_table([{"field": name, "value": value} for name, value in link.items()], ("field", "value"))
    else:
        print(link["short_url"])


@dataclass
class ImportRow:
    line: int
    cells: dict[str, str]
    recipient: str
    template: dict[str, Any]
    link: dict[str, str] | None = None
    error: str = ""


def import_recipients(api: AdminApi, options: LinkOptions, path: str, out: TextIO) -> int:
    """One link per CSV row, in batches of up to 10,000; writes the rows back with their codes; the exit code."""
    header, rows = _read_recipients(path, options)
    groups: dict[str, list[ImportRow]] = {}
    for row in rows:
        if not row.error:
            groups.setdefault(repr(sorted(row.template.items())), []).append(row)
    batches = [group[i:i + BATCH] for group in groups.values() for i in range(0, len(group), BATCH)]
    with progress("creating links") as bar:
        task = bar.add_task("creating links", total=sum(len(b) for b in batches))
        for batch in batches:
            try:
                answer = api.post_json("/v1/links/batch",
                                       {"template": batch[0].template, "recipients": [r.recipient for r in batch]})
            except ClientError as exc:
                if exc.status not in (409, 413, 422):
                    raise  # the API is down or refused the key: nothing more will work
                for row in batch:
                    row.error = exc.detail
            else:
                for row, link in zip(batch, answer["links"], strict=True):
                    row.link = link
            bar.advance(task, len(batch))
    created = [row for row in rows if row.link]
    failed = [row for row in rows if not row.link]
    columns = [*header, *(c for c in OUTPUT_COLUMNS if c not in header)]
    write_csv(({**row.cells, **(row.link or {})} for row in created), columns, out)
    for row in failed:
        print(f"{path} line {row.line}: {row.error}", file=sys.stderr)
    print(f"created {len(created):,} links in {len(batches):,} {'batch' if len(batches) == 1 else 'batches'}; "
          f"{len(failed):,} rows skipped", file=sys.stderr)
    return 1 if failed else 0


def _read_recipients(path: str, options: LinkOptions) -> tuple[list[str], list[ImportRow]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            text = file.read()
    except OSError as exc:
        raise ClientError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ClientError(f"{path}: not UTF-8 text (save the file as CSV UTF-8)") from None
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise ClientError(f"{path}: empty; expected a header row with a recipient, phone or email column") from None
    names = [name.lower() for name in header]
    recipient_column = next((header[names.index(c)] for c in RECIPIENT_COLUMNS if c in names), None)
    if recipient_column is None:
        raise ClientError(f"{path} line 1: no recipient, phone or email column (columns: {', '.join(header)})")
    rows = []
    for line, cells in _records(reader):
        if not any(cell.strip() for cell in cells):
            continue
        values = dict(zip(header, cells, strict=False))
        lowered = {name.lower(): value.strip() for name, value in values.items()}
        row = ImportRow(line, values, lowered.get(recipient_column.lower(), ""), options.fields(lowered))
        if len(cells) != len(header):
            row.error = f"expected {len(header)} cells like the header, got {len(cells)}"
        elif not row.template.get("destination"):
            row.error = "no destination (give --destination or a destination column)"
        else:
            try:
                normalise_recipient(row.recipient)
            except InvalidRecipient as exc:
                row.error = f"{recipient_column}: {exc}"
        rows.append(row)
    return header, rows


def _dialect(text: str) -> type[csv.Dialect]:
    header = text.partition("\n")[0]
    delimiter = max((",", ";", "\t"), key=header.count)
    return type("ImportDialect", (csv.excel,), {"delimiter": delimiter})


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, cells); a quoted cell may span lines."""
    start = reader.line_num + 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def list_links(api: AdminApi, filters: Mapping[str, str], limit: int, output: str) -> None:
    """Follow `next_cursor` until `limit` links (0: all of them)."""
    links: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = min(PAGE, limit - len(links)) if limit else PAGE
        params = {**{k: v for k, v in filters.items() if v}, "limit": str(page)}
        if cursor:
            params["cursor"] = cursor
        answer = api.get_json("/v1/links", params)
        links += answer["links"]
        cursor = answer.get("next_cursor") or ""
        if not cursor or (limit and len(links) >= limit):
            break
    if output == "json":
        write_json(links)
    elif output == "csv":
        write_csv(links, LIST_COLUMNS)
    else:
        print_table(links, LIST_COLUMNS, title=f"{len(links):,} links" + (" (more: raise --limit)" if cursor else ""))


def utm_options(values: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    return {key: value for key, value in values if value}
