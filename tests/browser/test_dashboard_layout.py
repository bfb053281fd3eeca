"""The dashboard measured in headless Chromium on a phone (390 px) and a desk (1280 px).

The admin app runs in this process against a real chDB holding a week of two channels, bots and a refund. Each
width is checked by DOM measurements (font sizes, boxes, scroll widths) and leaves a full-page screenshot in the
test's temp folder, to be looked at by eye when the layout changes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from playwright.sync_api import Browser, Page

from tests.support.browser import IPHONE_UA, desktop_agent, new_context
from tests.support.clickhouse import insert_rows
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.clickhouse.connect import connect
from tracker.clickhouse.migrate import migrate
from tracker.dashboard.views import GROUP_PRESETS
from tracker.dev.embedded_redis import EmbeddedRedis

pytestmark = pytest.mark.slow

TODAY = datetime.now(UTC).date()
FROM, TO = TODAY - timedelta(days=13), TODAY - timedelta(days=1)
WIDTHS = {"phone": 390, "desk": 1280}
MIN_LABEL_PX = 11


def click(click_id: str, day: date, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "click_id": click_id, "ts": datetime(day.year, day.month, day.day, 12, tzinfo=UTC), "code": "abc",
        "channel": "sms", "campaign": "Black Friday", "message": "reminder-1", "utm_source": "klaviyo",
        "utm_medium": "sms", "utm_campaign": "black_friday", "utm_content": "", "utm_term": "", "tags": [],
        "recipient_ref": f"r-{click_id}", "destination_host": "shop.example", "method": "GET", "is_bot": False,
        "bot_reason": "", "device_type": "mobile", "os": "iOS", "browser": "Mobile Safari", "referer": "",
        "ip_ref": f"ip-{click_id}", "domain": "go.shop.example",
    }
    row.update(fields)
    return row


def order(order_id: str, click_id: str, day: date, value: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id, "type": "purchase", "value": Decimal(value), "currency": "EUR", "click_id": click_id,
        "recipient_ref": "", "ts": datetime(day.year, day.month, day.day, 13, tzinfo=UTC), "source": "pixel",
        "verified": False,
    }
    row.update(fields)
    return row


@pytest.fixture(scope="module")
def admin_url(clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fortnight of sales on two channels, with bot clicks and a refund, in a database of this module."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    clickhouse = connect(clickhouse_url, database=database)
    redis = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        migrate(clickhouse)
        fill(clickhouse)
        with serve_in_thread(Admin(make_settings(redis.url), clickhouse=clickhouse).app) as base:
            yield base
    finally:
        redis.stop()
        clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
        clickhouse.close()


def fill(clickhouse: Client) -> None:
    clicks, orders = [], []
    for n in range(13):
        day = FROM + timedelta(days=n)
        for k in range(n % 4 + 1):
            clicks.append(click(f"s{n}-{k}", day))
        clicks.append(click(f"b{n}", day, is_bot=True, bot_reason="link_preview:imessage", device_type="bot"))
        clicks.append(click(f"w{n}", day, channel="whatsapp", campaign="Spring Drop", message="launch",
                            utm_medium="whatsapp"))
        orders.append(order(f"o{n}", f"s{n}-0", day, f"{1200 + 37 * n}.50"))
        if n % 3 == 0:
            orders.append(order(f"p{n}", f"w{n}", day, "129.00"))
    orders.append(order("o2", "s2-0", FROM + timedelta(days=3), "50.00", type="refund"))
    insert_rows(clickhouse, clicks, orders)


@pytest.fixture(params=list(WIDTHS), scope="module")
def page(request: pytest.FixtureRequest, browser: Browser, admin_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    width = WIDTHS[request.param]
    phone = request.param == "phone"
    context = new_context(browser, viewport={"width": width, "height": 844 if phone else 900},
                          user_agent=IPHONE_UA if phone else desktop_agent(browser), device_scale_factor=2 if phone
                          else 1, is_mobile=phone, has_touch=phone, accept_downloads=True)
    tab = context.new_page()
    tab.goto(f"{admin_url}/reports?from={FROM}&to={TO}&group_by=channel,campaign")
    tab.fill("input[name=key]", API_KEY)  # the login form, then back to the page asked for
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(r".*/reports\?from="))
    assert tab.locator("table.roi").count() == 1
    folder = tmp_path_factory.mktemp("screenshots")
    shot = folder / f"dashboard-{width}.png"
    tab.screenshot(path=str(shot), full_page=True)
    tab.locator("section:has(.chart)").screenshot(path=str(folder / f"chart-{width}.png"))
    tab.locator("form.filters").screenshot(path=str(folder / f"filters-{width}.png"))
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    print(f"\n[dashboard] {width} px screenshots: {folder}")
    yield tab
    context.close()


def test_the_chart_labels_are_at_least_11_px_and_stay_on_the_screen(page: Page):
    labels = page.eval_on_selector_all(".chart svg.labels text", """els => els.map(e => {
        const box = e.getBoundingClientRect();
        return {text: e.textContent, font: parseFloat(getComputedStyle(e).fontSize), height: box.height,
                left: box.left, right: box.right, kind: e.getAttribute("class")};
    })""")
    width = page.viewport_size["width"]  # type: ignore[index]
    days = [label for label in labels if label["kind"] == "day"]
    assert len(days) >= 3 and {"revenue-axis", "clicks-axis"} <= {label["kind"] for label in labels}
    for label in labels:
        assert label["font"] >= MIN_LABEL_PX and label["height"] >= MIN_LABEL_PX, label
        assert label["left"] >= 0 and label["right"] <= width, label
    # The day labels do not run into each other.
    for before, after in zip(days, days[1:], strict=False):
        assert before["right"] <= after["left"], (before, after)
    # The plot itself fills the card: the labels did not shrink it to nothing.
    plot = page.eval_on_selector(".chart svg.daily", "e => e.getBoundingClientRect().width")
    assert plot >= width * 0.8


def test_clicks_mean_the_same_on_the_channel_cards_and_in_the_table(page: Page):
    card_labels = page.eval_on_selector_all("article.channel dl dt", "els => els.map(e => e.textContent.trim())")
    headers = {h["metric"]: h["text"] for h in page.eval_on_selector_all(
        "table.roi th[data-metric]", "els => els.map(e => ({metric: e.dataset.metric, text: e.textContent.trim()}))")}
    assert "Clicks" not in card_labels and "Clicks" not in headers.values()
    assert "Human clicks" in card_labels
    assert (headers["clicks"], headers["human_clicks"], headers["bot_clicks"]) == ("All clicks", "Human clicks",
                                                                                  "Bot clicks")
    # The card's "Human clicks" of a channel is the sum of the table's "Human clicks" of that channel's rows, and
    # "All clicks" is humans plus bots.
    card = {c["channel"]: int(c["humans"]) for c in page.eval_on_selector_all("article.channel", """els => els.map(e =>
        ({channel: e.dataset.channel, humans: e.querySelector('dd[data-metric=human_clicks]').dataset.value}))""")}
    rows = page.eval_on_selector_all("table.roi tbody tr", """rows => rows.map(r => {
        const cell = m => r.querySelector(`td[data-metric=${m}]`).textContent.replace(/,/g, '');
        return {channel: r.querySelector('td.key').getAttribute('title'), all: +cell('clicks'),
                humans: +cell('human_clicks'), bots: +cell('bot_clicks')};
    })""")
    table: dict[str, int] = {}
    for row in rows:
        table[row["channel"]] = table.get(row["channel"], 0) + row["humans"]
        assert row["all"] == row["humans"] + row["bots"], row
    assert card == table and card["sms"] > 0


def test_the_group_by_field_shows_its_whole_value(page: Page):
    field = page.locator("#f-group_by")
    width = page.viewport_size["width"]  # type: ignore[index]
    for value in GROUP_PRESETS:
        field.fill(value)
        fits = field.evaluate("e => ({scroll: e.scrollWidth, client: e.clientWidth, right: "
                              "e.getBoundingClientRect().right})")
        assert fits["scroll"] <= fits["client"], (value, fits)
        assert fits["right"] <= width, (value, fits)


def test_revenue_per_click_carries_its_currency(page: Page):
    cells = page.eval_on_selector_all("table.roi td[data-metric=revenue_per_click]",
                                      "els => els.map(e => e.textContent.trim())")
    assert cells and all(re.fullmatch(r"[\d,]+\.\d\d EUR", cell) for cell in cells), cells
    header = page.locator("table.roi th[data-metric=revenue_per_click]").inner_text()
    assert "click" in header.lower()


def test_the_csv_file_is_named_after_the_inclusive_from_and_to_dates(page: Page):
    assert page.input_value("#f-to") == TO.isoformat()
    with page.expect_download() as downloading:
        page.click("a.export")
    assert downloading.value.suggested_filename == f"campaigns_{FROM:%Y%m%d}_{TO:%Y%m%d}.csv"
    rows = Path(downloading.value.path()).read_text().splitlines()
    assert rows[0].startswith("channel,campaign,clicks,") and len(rows) == 3
