"""The bots report against a real ClickHouse engine (chDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from tests.reports.test_campaign import click
from tests.support.clickhouse import insert_rows
from tracker.reports.bots import bots_report
from tracker.reports.query import ReportQuery

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
T = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}


def run(client: Client, **params: str):  # noqa: ANN201
    return bots_report(client, ReportQuery.from_params({**PERIOD, **params}, NOW))


def test_bot_clicks_are_counted_by_reason_with_the_links_they_hit(clickhouse: Client) -> None:
    insert_rows(clickhouse, clicks=[
        click("h1", T), click("h2", T, code="def"), click("h3", T), click("h4", T),
        click("p1", T, is_bot=True, bot_reason="preview", code="abc"),
        click("p2", T + timedelta(hours=1), is_bot=True, bot_reason="preview", code="def"),
        click("p3", T + timedelta(hours=2), is_bot=True, bot_reason="preview", code="def"),
        click("s1", T, is_bot=True, bot_reason="scanner", code="abc"),
        click("old", datetime(2026, 10, 1, tzinfo=UTC), is_bot=True, bot_reason="scanner"),
    ])
    report = run(clickhouse).to_json()
    assert (report["total_clicks"], report["bot_clicks"]) == (8, 4)
    assert report["rows"] == [
        {"bot_reason": "preview", "clicks": 3, "links": 2, "share": 0.375,
         "first_seen": "2026-11-10T12:00:00.000Z", "last_seen": "2026-11-10T14:00:00.000Z"},
        {"bot_reason": "scanner", "clicks": 1, "links": 1, "share": 0.125,
         "first_seen": "2026-11-10T12:00:00.000Z", "last_seen": "2026-11-10T12:00:00.000Z"},
    ]


def test_a_click_stored_twice_counts_once_and_excluded_tags_are_left_out(clickhouse: Client) -> None:
    twice = click("p1", T, is_bot=True, bot_reason="preview")
    insert_rows(clickhouse, clicks=[twice, click("t1", T, is_bot=True, bot_reason="preview", tags=["test"])])
    insert_rows(clickhouse, clicks=[twice, click("h1", T)])
    rows = run(clickhouse, exclude_tags="test").rows
    assert [(row["bot_reason"], row["clicks"]) for row in rows] == [("preview", 1)]


def test_no_bots_is_an_empty_report_and_csv_has_its_header(clickhouse: Client) -> None:
    insert_rows(clickhouse, clicks=[click("h1", T)])
    report = run(clickhouse)
    assert report.rows == [] and report.to_json()["bot_clicks"] == 0
    assert report.to_csv().splitlines() == ["bot_reason,clicks,links,share,first_seen,last_seen"]
