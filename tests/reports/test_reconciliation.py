"""The reconciliation report against chDB: purchases received per day and source against those attributed."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from clickhouse_connect.driver.client import Client

from tests.reports.test_campaign import DAY, DEFAULT, HOUR, NOW, PERIOD, T, click, purchase, refund
from tests.support.clickhouse import insert_rows
from tracker.reports.query import ReportQuery
from tracker.reports.reconciliation import COLUMNS, Reconciliation, reconciliation


def run(client: Client, **params: str) -> Reconciliation:
    return reconciliation(client, ReportQuery.from_params({**PERIOD, **params}, NOW), DEFAULT)


def test_orders_received_per_day_and_source_against_those_attributed(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - HOUR), click("bot", T - HOUR, is_bot=True, recipient_ref="r9")],
        conversions=[
            purchase("1001", T, "100.00", click_id="a", source="shopify"),
            purchase("1001", T + HOUR, "100.00", click_id="a", source="pixel"),  # the same order again: once
            purchase("1002", T, "50.00", source="shopify"),  # nobody to credit
            purchase("1003", T, "20.00", click_id="bot", source="woocommerce"),  # a bot is never credited
            purchase("1004", T + DAY, "30.00", recipient_ref="r1", source="import"),  # the buyer's click
            purchase("1005", T, "70.00", currency="USD", source="shopify"),  # another currency
            purchase("c-1", T, "10.00", type="checkout", click_id="a", source="api"),  # not an order
            refund("1001", T + DAY, "40.00", refund_id="r1", source="shopify"),
            refund("1001", T + DAY, "40.00", refund_id="r1", source="shopify"),  # the same refund again
            refund("1003", T + 2 * DAY, "5.00", source="woocommerce"),
        ],
    )
    report = run(clickhouse)
    assert report.currency == "EUR"
    rows = {(row["day"], row["source"]): row for row in report.rows}
    assert set(rows) == {("2026-11-10", "shopify"), ("2026-11-10", "woocommerce"), ("2026-11-11", "import"),
                         ("2026-11-11", "shopify"), ("2026-11-12", "woocommerce")}
    shopify = rows[("2026-11-10", "shopify")]
    assert (shopify["orders"], shopify["revenue"], shopify["attributed_orders"], shopify["attributed_revenue"]) == (
        2, Decimal("150.00"), 1, Decimal("100.00"))
    assert (shopify["unattributed_orders"], shopify["unattributed_revenue"]) == (1, Decimal("50.00"))
    assert shopify["attributed_share"] == Decimal("0.666667")
    assert rows[("2026-11-10", "woocommerce")]["attributed_orders"] == 0
    assert rows[("2026-11-11", "import")]["attributed_revenue"] == Decimal("30.00")
    assert rows[("2026-11-11", "shopify")]["refunds"] == Decimal("40.00")
    assert rows[("2026-11-12", "woocommerce")]["attributed_share"] is None
    assert report.total == {
        "orders": 4, "revenue": Decimal("200.00"), "attributed_orders": 2, "attributed_revenue": Decimal("130.00"),
        "unattributed_orders": 2, "unattributed_revenue": Decimal("70.00"), "attributed_share": Decimal("0.650000"),
        "refunds": Decimal("45.00"),
    }
    assert [row["source"] for row in report.sources] == ["import", "shopify", "woocommerce"]
    assert run(clickhouse, currency="USD").total["orders"] == 1


def test_the_window_decides_what_is_attributed_and_csv_lists_rows_sources_and_total(clickhouse: Client) -> None:
    insert_rows(clickhouse, clicks=[click("a", T - 3 * DAY)],
                conversions=[purchase("1", T, "10.00", click_id="a", source="shopify")])
    assert run(clickhouse).total["attributed_orders"] == 1  # the default 7 days
    assert run(clickhouse, window="1d").total["attributed_orders"] == 0
    lines = list(csv.DictReader(io.StringIO(run(clickhouse).to_csv())))
    assert list(lines[0]) == list(COLUMNS)
    assert [(line["day"], line["source"]) for line in lines] == [
        ("2026-11-10", "shopify"), ("total", "shopify"), ("total", "all")]
    assert lines[-1]["attributed_share"] == "1.000000"
    body = run(clickhouse).to_json()
    assert body["total"]["revenue"] == 10.0 and body["rows"][0]["day"] == "2026-11-10"
