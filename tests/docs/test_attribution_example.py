"""The worked example of docs/attribution.md is what the product computes, figure by figure.

The page marks its parts with `<!-- example: name -->`: `settings` (a block of VAR=value lines), `clicks`,
`messages` and `conversions` (tables of events), then for each report a `report` (the request), its `formula`
(the sentence quoted) and `rows` (the expected rows, and a `(unattributed)` row for what no click got). This
test loads the events into a real ClickHouse engine (chDB), runs each report and compares.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from clickhouse_connect.driver.client import Client

from tests.support import markdown
from tests.support.clickhouse import insert_rows
from tracker.events import click, conversion, message
from tracker.reports.campaign import Report, campaign_report
from tracker.reports.query import ReportQuery
from tracker.settings import Settings

NOW = datetime(2026, 12, 1, tzinfo=UTC)
UNATTRIBUTED = "(unattributed)"


def blocks() -> list[tuple[str, list[markdown.Line]]]:
    return [(name, block) for name, _, block in markdown.marked(markdown.lines(markdown.read("attribution.md")))]


def table(block: list[markdown.Line]) -> list[dict[str, str]]:
    [rows] = markdown.tables(block)
    return rows


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def column_default(kind: str) -> Any:
    """A neutral value for a column the example does not mention, so new columns need no change here."""
    if kind.startswith("Array"):
        return []
    if kind == "Bool":
        return False
    if kind.startswith(("UInt", "Int", "Float", "Decimal")):
        return 0
    return ""


def click_row(row: dict[str, str]) -> dict[str, Any]:
    bot = row["bot"] == "yes"
    return {
        "click_id": row["click_id"], "ts": moment(row["time"]), "code": f"{row['campaign']}-{row['message']}",
        "channel": row["channel"], "campaign": row["campaign"], "message": row["message"],
        "utm_medium": row["channel"], "utm_campaign": row["campaign"], "recipient_ref": row["recipient"],
        "tags": [tag.strip() for tag in row["tags"].split(",") if tag.strip()], "method": "GET", "is_bot": bot,
        "bot_reason": "link_preview:imessage" if bot else "", "ip_ref": f"ip-{row['recipient']}",
        "destination_host": "shop.example",
    }


def conversion_row(row: dict[str, str]) -> dict[str, Any]:
    return {
        "order_id": row["order_id"], "type": row["type"], "value": Decimal(row["value"]),
        "currency": row["currency"], "click_id": row["click_id"], "recipient_ref": row["recipient"],
        "ts": moment(row["time"]), "source": "api", "verified": True,
    }


def message_row(row: dict[str, str]) -> dict[str, Any]:
    return {
        "message_id": row["message_id"], "ts": moment(row["time"]), "status": row["status"],
        "channel": row["channel"], "campaign": row["campaign"], "message": row["message"],
        "recipient_ref": row["recipient"], "tags": [tag.strip() for tag in row["tags"].split(",") if tag.strip()],
        "source": row["source"], "provider": "" if row["source"] == "api" else row["source"],
    }


def complete(row: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Every column of the event's schema, the example's values where it gives them."""
    return {name: row.get(name, column_default(kind)) for name, kind in columns}


def same(expected: str, actual: object) -> bool:
    return Decimal(expected) == Decimal(str(actual))


def check(report: Report, expected: list[dict[str, str]]) -> None:
    [key] = report.query.group_by
    shown = [row for row in expected if row[key] != UNATTRIBUTED]
    assert [row[key] for row in report.rows] == [row[key] for row in shown], "rows or their order differ"
    for row, actual in zip(shown, report.rows, strict=True):
        for name, value in row.items():
            if name != key:
                assert same(value, actual[name]), f"{row[key]}.{name}: page says {value}, report {actual[name]}"
    [unattributed] = [row for row in expected if row[key] == UNATTRIBUTED]
    assert same(unattributed["orders"], report.unattributed_orders)
    assert same(unattributed["revenue"], report.unattributed_revenue)


def test_the_worked_example_is_what_the_reports_compute(clickhouse: Client) -> None:
    parts = blocks()
    [settings_block] = [block for name, block in parts if name == "settings"]
    settings = Settings.from_env(dict(line.split("=", 1) for line in markdown.code(settings_block)))
    [clicks] = [table(block) for name, block in parts if name == "clicks"]
    [conversions] = [table(block) for name, block in parts if name == "conversions"]
    [messages] = [table(block) for name, block in parts if name == "messages"]
    insert_rows(
        clickhouse,
        clicks=[complete(click_row(row), click.COLUMNS) for row in clicks],
        conversions=[complete(conversion_row(row), conversion.COLUMNS) for row in conversions],
        messages=[complete(message_row(row), message.COLUMNS) for row in messages],
    )

    seen = {"report": 0, "formula": 0, "rows": 0}
    report: Report | None = None
    for name, block in parts:
        seen[name] = seen.get(name, 0) + 1
        if name == "report":
            [request] = markdown.code(block)
            params = dict(parse_qsl(urlsplit(request.removeprefix("GET ")).query))
            report = campaign_report(clickhouse, ReportQuery.from_params(params, NOW), settings)
        elif name == "formula":
            assert report is not None
            assert " ".join(line.text.removeprefix(">").strip() for line in block) == report.formula
        elif name == "rows":
            assert report is not None
            check(report, table(block))
    assert seen["report"] >= 3 and seen["report"] == seen["formula"] == seen["rows"], seen
