"""`tracker report` as a real process against a real admin API over chDB."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from tests.client.test_links import tracker
from tests.reports.test_campaign import click, purchase
from tests.support.clickhouse import insert_rows
from tests.support.servers import serve_in_thread
from tests.support.settings import make_settings
from tracker.admin.app import Admin

T = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


@pytest.fixture
def admin_url(redis_url: str, clickhouse: Client) -> Iterator[str]:
    insert_rows(
        clickhouse,
        clicks=[
            click("c1", T, campaign="spring", code="abc"),
            click("c2", T, campaign="summer", code="def", recipient_ref="r2"),
            click("b1", T, campaign="spring", code="abc", is_bot=True, bot_reason="whatsapp_preview"),
            click("b2", T, campaign="summer", code="def", is_bot=True, bot_reason="whatsapp_preview"),
            click("b3", T, campaign="summer", code="def", is_bot=True, bot_reason="security_scanner"),
        ],
        conversions=[purchase("o1", T + timedelta(minutes=5), "120.50", click_id="c1")],
    )
    with serve_in_thread(Admin(make_settings(redis_url), clickhouse=clickhouse).app) as base:
        yield base


def test_report_prints_a_readable_table(admin_url: str) -> None:
    done = tracker(admin_url, "report")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if "campaign" in line and "clicks" in line)
    assert all(name in header for name in ("human_clicks", "orders", "revenue", "net_revenue"))
    spring = next(line for line in lines if "spring" in line)
    assert "120.50" in spring and "EUR" in done.stdout
    assert "last_click" in done.stdout and any("credit" in line.lower() for line in lines)


def test_report_as_csv_and_json_and_by_other_keys(admin_url: str) -> None:
    rows = list(csv.DictReader(io.StringIO(tracker(admin_url, "report", "--format", "csv").stdout)))
    assert {row["campaign"]: row["revenue"] for row in rows} == {"spring": "120.50", "summer": "0.00"}
    answer = orjson.loads(tracker(admin_url, "report", "--group-by", "code", "--format", "json").stdout)
    assert {row["code"]: row["clicks"] for row in answer["rows"]} == {"abc": 2, "def": 3}


def test_report_bots_shows_bot_clicks_by_reason(admin_url: str) -> None:
    table = tracker(admin_url, "report", "--bots")
    assert table.returncode == 0, table.stderr
    preview = next(line for line in table.stdout.splitlines() if "whatsapp_preview" in line)
    assert " 2 " in f" {preview} "
    answer = orjson.loads(tracker(admin_url, "report", "--bots", "--format", "json").stdout)
    assert [(row["bot_reason"], row["clicks"]) for row in answer["rows"]] == [
        ("whatsapp_preview", 2), ("security_scanner", 1)]


def test_a_bad_report_parameter_is_one_line(admin_url: str) -> None:
    done = tracker(admin_url, "report", "--group-by", "colour")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "400" in done.stderr
