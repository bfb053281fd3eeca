"""The campaign report's message metrics and view-through credit (SPEC section 7), one rule at a time, on chDB.

The generated acceptance campaign, with every rule at once against an independent computation, is in
tests/reports/test_campaign.py (the month of clicks) and tests/test_message_campaign.py (messages end to end).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from tests.reports.test_campaign import DAY, HOUR, NOW, PERIOD, T, by, click, purchase, refund
from tests.support.clickhouse import insert_rows
from tracker.reports.campaign import GROUP_COLUMNS, MESSAGE_COLUMNS, Report, campaign_report
from tracker.reports.query import GROUP_KEYS, ReportQuery
from tracker.settings import Settings

DEFAULT_SETTINGS = Settings.from_env({})
VIEW_24H = Settings.from_env({"TRACKER_VIEW_WINDOW_SMS": "24h"})
VIEW_ALL_12H = Settings.from_env({"TRACKER_VIEW_WINDOW": "12h", "TRACKER_VIEW_WINDOW_EMAIL": "0"})


def msg(message_id: str, status: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """A row of text `message_id` registered through the API for recipient r1, campaign spring, unless told."""
    row: dict[str, Any] = {
        "message_id": message_id, "status": status, "ts": at, "recipient_ref": "r1", "code": "abc",
        "channel": "sms", "campaign": "spring", "message": "m1", "tags": [], "utm_source": "attentive",
        "utm_medium": "sms", "utm_campaign": "spring", "utm_content": "", "utm_term": "", "provider": "twilio",
        "error_code": "", "source": "api",
    }
    row.update(fields)
    return row


def receipt(message_id: str, status: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """A provider's receipt: no labels, the recipient from the provider's `To`."""
    unlabelled = {"code": "", "campaign": "", "message": "", "utm_source": "", "utm_medium": "", "utm_campaign": "",
                  "source": "twilio"}
    return msg(message_id, status, at, **{**unlabelled, **fields})


def run(client: Client, settings: Settings = VIEW_24H, **params: str) -> Report:
    return campaign_report(client, ReportQuery.from_params({**PERIOD, **params}, NOW), settings)


def figures(report: Report, *names: str) -> dict[Any, tuple[object, ...]]:
    return {key: tuple(row[name] for name in names) for key, row in by(report).items()}


def test_every_group_key_says_what_it_is_for_a_message() -> None:
    assert set(MESSAGE_COLUMNS) == set(GROUP_COLUMNS) == set(GROUP_KEYS) - {"day"}


def test_sends_deliveries_and_failures_are_counted_per_message_on_its_own_labels(clickhouse: Client) -> None:
    insert_rows(clickhouse, messages=[
        msg("m1", "sent", T), receipt("m1", "delivered", T + HOUR),
        msg("m2", "sent", T), receipt("m2", "undelivered", T + HOUR, error_code="30003"),
        msg("m3", "failed", T),  # never left the provider: not sent
        receipt("m4", "delivered", T),  # delivered without its `sent` receipt: it was sent
        msg("m4", "sent", T - 10 * HOUR),  # ...and registered after its receipt: joins it, labels and all
        msg("m5", "sent", T, campaign="summer"), receipt("m5", "read", T + HOUR),
        msg("m6", "sent", T, tags=["test"]),
        receipt("m7", "delivered", T),  # never registered: counted under no campaign
    ])
    got = figures(run(clickhouse, exclude_tags="test"), "sent", "delivered", "failed", "delivery_rate")
    assert got == {"spring": (3, 2, 2, Decimal("0.666667")), "summer": (1, 1, 0, Decimal("1.000000")),
                   "": (1, 1, 0, Decimal("1.000000"))}


def test_a_message_counts_in_the_period_it_was_sent_in_whenever_its_receipt_came(clickhouse: Client) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    insert_rows(clickhouse, messages=[
        msg("early", "sent", start - HOUR), receipt("early", "delivered", start + HOUR),
        msg("late", "sent", datetime(2026, 11, 30, 23, tzinfo=UTC)),
        receipt("late", "delivered", datetime(2026, 12, 1, 1, tzinfo=UTC)),
    ])
    assert figures(run(clickhouse), "sent", "delivered") == {"spring": (1, 1)}
    by_day = figures(run(clickhouse, group_by="day"), "sent")
    assert by_day == {"2026-11-30": (1,)}


def test_rates_per_message_use_delivered_and_are_null_without_deliveries(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T + HOUR), click("b", T + HOUR, recipient_ref="r2"), click("bot", T, is_bot=True)],
        conversions=[purchase("o1", T + 2 * HOUR, "30.00", click_id="a"), refund("o1", T + DAY, "6.00")],
        messages=[*(msg(f"d{i}", "sent", T) for i in range(4)), *(receipt(f"d{i}", "delivered", T) for i in range(4)),
                  msg("x", "sent", T, campaign="summer")],
    )
    row = by(run(clickhouse))["spring"]
    assert (row["delivered"], row["unique_clickers"], row["click_rate"]) == (4, 2, Decimal("0.500000"))
    assert (row["net_revenue"], row["revenue_per_message"]) == (Decimal("24.00"), Decimal("6.00"))
    summer = by(run(clickhouse))["summer"]
    assert (summer["sent"], summer["delivery_rate"], summer["click_rate"], summer["revenue_per_message"]) == (
        1, Decimal("0.000000"), None, None)


def test_a_purchase_without_a_click_goes_to_the_buyers_last_delivered_message(clickhouse: Client) -> None:
    insert_rows(clickhouse, messages=[
        msg("old", "sent", T - 20 * HOUR, campaign="spring"), receipt("old", "delivered", T - 20 * HOUR),
        msg("new", "sent", T - 2 * HOUR, campaign="summer"), receipt("new", "delivered", T - 2 * HOUR),
        msg("undelivered", "sent", T - HOUR, campaign="autumn"), receipt("undelivered", "undelivered", T - HOUR),
        msg("after", "sent", T + HOUR, campaign="winter"), receipt("after", "delivered", T + HOUR),
    ], conversions=[purchase("o1", T, "40.00", recipient_ref="r1")])
    for model in ("last_click", "first_click", "linear"):
        report = run(clickhouse, model=model)
        assert figures(report, "view_orders", "view_revenue", "orders", "revenue", "click_orders")["summer"] == (
            Decimal("1.0000"), Decimal("40.00"), Decimal("1.0000"), Decimal("40.00"), Decimal("0.0000"))
        assert report.unattributed_orders == 0
    assert run(clickhouse, DEFAULT_SETTINGS).unattributed_orders == 1  # view-through off by default


def test_click_credit_always_wins_over_a_later_delivery(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - 3 * HOUR, campaign="spring")],
        messages=[msg("m", "sent", T - HOUR, campaign="summer"), receipt("m", "delivered", T - HOUR)],
        conversions=[purchase("o1", T, "10.00", recipient_ref="r1")],
    )
    got = figures(run(clickhouse), "click_orders", "view_orders")
    assert got["spring"] == (Decimal("1.0000"), Decimal("0.0000"))
    assert got["summer"] == (Decimal("0.0000"), Decimal("0.0000"))


def test_the_view_window_is_per_channel_inclusive_and_the_parameter_overrides_it(clickhouse: Client) -> None:
    insert_rows(clickhouse, messages=[
        msg("sms", "delivered", T - DAY), msg("email", "delivered", T - HOUR, channel="email", campaign="news",
                                               recipient_ref="r2"),
    ], conversions=[purchase("o1", T, "10.00", recipient_ref="r1"), purchase("o2", T, "20.00", recipient_ref="r2")])
    assert figures(run(clickhouse), "view_orders")["spring"] == (Decimal("1.0000"),)  # exactly 24 h: inside
    assert figures(run(clickhouse), "view_orders")["news"] == (Decimal("0.0000"),)  # email: no window
    assert figures(run(clickhouse, VIEW_ALL_12H), "view_orders") == {"spring": (Decimal("0.0000"),),
                                                                     "news": (Decimal("0.0000"),)}
    overridden = figures(run(clickhouse, VIEW_ALL_12H, view_window="2d"), "view_orders")
    assert overridden == {"spring": (Decimal("1.0000"),), "news": (Decimal("1.0000"),)}
    assert run(clickhouse, view_window="0").unattributed_orders == 2
    assert figures(run(clickhouse, view_window="23h"), "view_orders")["spring"] == (Decimal("0.0000"),)


def test_view_credit_skips_excluded_tags_and_finds_the_buyer_through_the_named_click(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        # An old click (outside the 7 day window) names the buyer; no click is eligible.
        clicks=[click("old", T - 10 * DAY, recipient_ref="r1")],
        messages=[msg("vip", "delivered", T - 2 * HOUR, campaign="summer"),
                  msg("test", "delivered", T - HOUR, campaign="qa", tags=["test"])],
        conversions=[purchase("o1", T, "10.00", click_id="old"), refund("o1", T + DAY, "4.00")],
    )
    report = run(clickhouse, exclude_tags="test")
    row = by(report)["summer"]
    assert (row["view_orders"], row["view_revenue"], row["refunds"], row["net_revenue"]) == (
        Decimal("1.0000"), Decimal("10.00"), Decimal("4.00"), Decimal("6.00"))
    assert "qa" not in by(report)
    assert figures(run(clickhouse), "view_orders")["qa"] == (Decimal("1.0000"),)


def test_a_receipt_joins_its_registration_for_the_credit_and_the_labels(clickhouse: Client) -> None:
    # The Telnyx receipt names the recipient; the API's row, which arrived later, names the campaign.
    insert_rows(clickhouse, messages=[
        receipt("tx", "delivered", T - HOUR, recipient_ref="r9", source="telnyx", provider="telnyx"),
        msg("tx", "sent", T - 2 * HOUR, campaign="summer", recipient_ref=""),
    ], conversions=[purchase("o1", T, "12.50", recipient_ref="r9")])
    assert figures(run(clickhouse), "sent", "delivered", "view_orders", "view_revenue") == {
        "summer": (1, 1, Decimal("1.0000"), Decimal("12.50"))}


def test_the_formula_says_how_view_through_works_when_it_is_on_in_its_one_sentence(clickhouse: Client) -> None:
    assert run(clickhouse).formula.count(".") == 1  # the contract: "one sentence saying how a sale was credited"
    assert run(clickhouse).formula.endswith(
        "; a purchase with no eligible click is credited to the buyer's last message delivered (or read) within "
        "1 day for SMS before it (view-through).")
    assert run(clickhouse, VIEW_ALL_12H, exclude_tags="test").formula.endswith(
        "; a purchase with no eligible click is credited to the buyer's last message not tagged test delivered (or "
        "read) within 12 hours (Email: off) before it (view-through).")
    assert "view-through" not in run(clickhouse, view_window="0").formula
    assert "view-through" not in run(clickhouse, DEFAULT_SETTINGS).formula
    assert run(clickhouse, view_window="6h").to_json()["view_window"] == 21600



def test_a_registration_without_labels_does_not_hide_the_one_that_has_them(clickhouse: Client) -> None:
    # Sent and delivered posted through the API: the first without its link, the second naming it.
    unlabelled = {"code": "", "channel": "", "campaign": "", "message": "", "utm_source": "", "utm_medium": "",
                  "utm_campaign": ""}
    insert_rows(clickhouse, messages=[
        msg("ml", "sent", T - 2 * HOUR, **unlabelled),
        msg("ml", "delivered", T - HOUR, campaign="autumn"),
    ], conversions=[purchase("o1", T, "20.00", recipient_ref="r1")])
    assert figures(run(clickhouse), "sent", "delivered", "view_orders", "view_revenue") == {
        "autumn": (1, 1, Decimal("1.0000"), Decimal("20.00"))}


def test_grouped_by_domain_a_text_counts_under_its_links_domain_beside_its_clicks(clickhouse: Client) -> None:
    insert_rows(clickhouse, clicks=[click("c1", T - HOUR, code="vip", domain="go.brand.example")], messages=[
        msg("mb", "sent", T - 2 * HOUR, code="vip", domain="go.brand.example"),
        receipt("mb", "delivered", T - HOUR - HOUR / 2),
        msg("mn", "sent", T - 2 * HOUR, code="", campaign="spring"),  # registered without a link: no domain
    ])
    assert figures(run(clickhouse, group_by="domain"), "clicks", "sent", "delivered", "click_rate") == {
        "go.brand.example": (1, 1, 1, Decimal("1.000000")), "": (0, 1, 0, None)}
