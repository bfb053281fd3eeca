"""Acceptance: a generated month of a shop's orders through the real doors, against an independent model.

Shopify and WooCommerce deliveries (paid, refunded, cancelled, test, redelivered, forged), micro conversions,
subscriptions and renewals through `POST /v1/conversions`, and a CSV import of point-of-sale orders, all over
real HTTP to an edge and an admin app on a real redis-server; the product's loader moves the stream into chDB.
Then: ClickHouse holds exactly the conversions the generator meant (forged deliveries recorded nothing, each
order and each refund once however often delivered), and every report row equals the plain-Python
implementation of the attribution rules (tests/reports/test_campaign.py), to the cent.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis
from clickhouse_connect.driver.client import Client

from tests.reports.test_campaign import expected_report
from tests.stores.month import END, SHOPIFY_SECRET, START, WOO_SECRET, Month, generate
from tests.support.clickhouse import fresh_database, insert_rows
from tests.support.processes import load_into_clickhouse
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge
from tracker.reports.attribution import MODELS
from tracker.reports.campaign import json_number
from tracker.reports.query import ReportQuery
from tracker.settings import Settings

pytestmark = pytest.mark.slow

ENV = {"TRACKER_SHOPIFY_SECRET": SHOPIFY_SECRET, "TRACKER_WOOCOMMERCE_SECRET": WOO_SECRET,
       "TRACKER_ATTRIBUTION_WINDOW_SMS": "2d"}
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@dataclass
class Delivered:
    month: Month
    settings: Settings
    admin: httpx.Client
    clickhouse: Client


@pytest.fixture(scope="module")
def delivered(redis_server: Any, tmp_path_factory: pytest.TempPathFactory, clickhouse_url: str) -> Iterator[Delivered]:
    """The month, sent once for every test of this module, into a database of its own."""
    redis.Redis.from_url(redis_server.url).flushall()
    month = generate()
    settings = make_settings(redis_server.url, **ENV)
    with fresh_database(clickhouse_url) as clickhouse, \
            serve_in_thread(Edge(settings)) as edge_url, \
            serve_in_thread(Admin(settings, clickhouse=clickhouse).app) as admin_url, \
            httpx.Client(base_url=edge_url, timeout=10) as edge, \
            httpx.Client(base_url=admin_url, headers=AUTH, timeout=60) as admin:
        insert_rows(clickhouse, clicks=month.clicks)
        for delivery in month.deliveries:
            reply = edge.post(delivery.path, content=delivery.body, headers=delivery.headers)
            assert reply.status_code == delivery.status, (delivery.note, reply.status_code, reply.text)
            if delivery.answer is not None:
                assert reply.json() == delivery.answer, delivery.note
        for body, status in month.api_calls:
            reply = admin.post("/v1/conversions", json=body)
            assert reply.status_code == status, reply.text
        for _ in range(2):  # the import is idempotent
            imported = admin.post("/v1/conversions/import", content=month.csv, headers={"content-type": "text/csv"})
            assert imported.status_code == 202, imported.text
        load_into_clickhouse(redis_server.url, clickhouse)
        yield Delivered(month, settings, admin, clickhouse)


def stored(clickhouse: Client) -> list[tuple[Any, ...]]:
    return sorted(clickhouse.query(
        "SELECT source, type, order_id, refund_id, subscription_id, value, currency, click_id, recipient_ref, ts "
        "FROM conversions").result_rows)


def test_clickhouse_holds_exactly_the_conversions_meant_once_each(delivered: Delivered) -> None:
    expected = sorted(
        (t["source"], t["type"], t["order_id"], t["refund_id"], t["subscription_id"], Decimal(t["value"]),
         t["currency"], t["click_id"], t["recipient_ref"], t["ts"].replace(tzinfo=None))
        for t in delivered.month.truth
    )
    rows = stored(delivered.clickhouse)
    assert [row[:7] for row in rows] == [row[:7] for row in expected]
    assert [row[7:9] for row in rows] == [row[7:9] for row in expected]  # who bought, through which click
    assert [row[9].replace(tzinfo=None) for row in rows] == [row[9] for row in expected]
    twice = delivered.clickhouse.query(
        "SELECT type, order_id, refund_id FROM conversions GROUP BY type, order_id, refund_id HAVING count() > 1"
    ).result_rows
    assert twice == []


def test_forged_test_and_unpaid_deliveries_recorded_nothing(delivered: Delivered) -> None:
    notes = Counter(d.note for d in delivered.month.deliveries)
    assert notes["forged"] + notes["forged refund"] >= 10 and notes["test order"] >= 3
    orders = {row[0] for row in delivered.clickhouse.query("SELECT order_id FROM conversions").result_rows}
    meant = {t["order_id"] for t in delivered.month.truth}
    assert orders == meant
    # Shopify's ids are above 2^53 and arrive exact, never rounded through a float.
    shopify = [int(t["order_id"]) for t in delivered.month.truth if t["source"] == "shopify"]
    assert min(shopify) > 2**53 and {str(i) for i in shopify} <= orders



def period(**params: str) -> dict[str, str]:
    return {"from": START.date().isoformat(), "to": (END - timedelta(days=1)).date().isoformat(), **params}


CASES: list[dict[str, str]] = [
    *({"model": model} for model in MODELS),
    {"model": "linear", "group_by": "channel,campaign,day"},
    {"model": "first_click", "group_by": "source,medium,message", "window": "1d"},
    {"model": "last_click", "group_by": "channel", "currency": "USD"},
]


def test_every_report_row_equals_the_independent_model_to_the_cent(delivered: Delivered) -> None:
    month = delivered.month
    credited = {"orders": 0.0, "add_to_cart": 0.0, "subscriptions": 0.0, "recurring_revenue": 0.0, "refunds": 0.0}
    for case in CASES:
        params = period(**case)
        reply = delivered.admin.get("/v1/reports/campaigns", params=params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        query = ReportQuery.from_params(params, datetime.now(UTC))
        currency, rows, unattributed_orders, unattributed_revenue = expected_report(
            month.clicks, month.truth, query, delivered.settings)
        assert body["currency"] == currency
        assert body["rows"] == [{name: json_number(value) for name, value in row.items()} for row in rows], case
        assert (body["unattributed_orders"], body["unattributed_revenue"]) == (
            unattributed_orders, float(unattributed_revenue))
        for name in credited:
            credited[name] += sum(row[name] for row in body["rows"])
    # The month exercised what it is about: credited orders, micro conversions, subscriptions and their renewals,
    # and refunds; and orders nobody could be credited with.
    assert all(total > 0 for total in credited.values()), credited
    statuses = Counter(d.status for d in month.deliveries)
    print(f"\n[store month] {len(month.clicks)} clicks, {len(month.deliveries)} hook deliveries {dict(statuses)}, "
          f"{sum(len(body) for body, _ in month.api_calls)} API conversions, {len(month.csv.splitlines()) - 1} CSV "
          f"lines; {len(month.truth)} conversions recorded; {len(CASES)} reports equal the model row by row; "
          f"credited over the cases: {credited}")


def expected_reconciliation(month: Month, query: ReportQuery, settings: Settings) -> dict[tuple[str, str], dict]:
    """Per (day, source): the purchases received and those the independent model credits, and refunds received."""
    currency = expected_report(month.clicks, month.truth, query, settings)[0]
    found: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(Decimal))
    for t in month.truth:
        if query.start <= t["ts"] < query.end and t["currency"] == currency and t["type"] in ("purchase", "refund"):
            figures = found[(t["ts"].date().isoformat(), t["source"])]
            if t["type"] == "purchase":
                figures["orders"] += 1
                figures["revenue"] += t["value"]
            else:
                figures["refunds"] += t["value"]
    for source in {t["source"] for t in month.truth}:
        # An order's credit depends on it alone: the model run on one source's orders credits exactly those.
        own = [t for t in month.truth if t["source"] == source or t["type"] != "purchase"]
        by_day = replace(query, group_by=("day",), model="last_click")
        for row in expected_report(month.clicks, own, by_day, settings)[1]:
            if row["orders"]:
                figures = found[(str(row["day"]), source)]
                figures["attributed_orders"] += row["orders"]
                figures["attributed_revenue"] += row["revenue"]
    return {key: {name: value for name, value in figures.items() if value} for key, figures in found.items()}


def test_the_reconciliation_equals_the_independent_model_per_day_and_source(delivered: Delivered) -> None:
    params = period()
    reply = delivered.admin.get("/v1/reports/reconciliation", params=params)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    expected = expected_reconciliation(delivered.month, ReportQuery.from_params(params, datetime.now(UTC)),
                                       delivered.settings)
    got = {(row["day"], row["source"]): {name: Decimal(str(row[name])) for name in
                                          ("orders", "revenue", "refunds", "attributed_orders", "attributed_revenue")
                                          if row[name]} for row in body["rows"]}
    assert got == expected
    assert {row["source"] for row in body["sources"]} == {"shopify", "woocommerce", "import"}
    total = body["total"]
    assert total["orders"] == sum(figures.get("orders", 0) for figures in expected.values()) > 300
    assert 0 < total["attributed_share"] < 1
    assert delivered.admin.get("/v1/reports/reconciliation", params=period(model="linear")).status_code == 400
    print(f"\n[store month reconciliation] {len(body['rows'])} day x source rows; total {total}")
