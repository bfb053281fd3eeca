"""`/reports`, the HTML dashboard, over real HTTP against a real redis-server and ClickHouse (chDB)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from tests.support.clickhouse import insert_rows
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.dashboard.chart import daily_chart, nice_ceiling
from tracker.dashboard.endpoints import TEMPLATES
from tracker.dashboard.sessions import SESSION_COOKIE, Sessions, basic_password, header_key, safe_next
from tracker.dashboard.views import compact_window
from tracker.reports.campaign import campaign_report
from tracker.reports.query import ReportQuery

TODAY = datetime.now(UTC).date()
YESTERDAY_NOON = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC) - timedelta(days=1)
PERIOD = {"from": (TODAY - timedelta(days=6)).isoformat(), "to": TODAY.isoformat()}
# A page runs several reports in chDB: on a machine shared with other suites one can take longer than httpx's 5 s.
REPORT_TIMEOUT = 60.0
XSS = "<script>alert(1)</script>"
XSS_MESSAGE = '"><img src=x onerror=alert(2)>'


def click(click_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "click_id": click_id, "ts": YESTERDAY_NOON, "code": "abc", "channel": "sms", "campaign": "Black Friday",
        "message": "reminder-1", "utm_source": "klaviyo", "utm_medium": "sms", "utm_campaign": "black_friday",
        "utm_content": "", "utm_term": "", "tags": [], "recipient_ref": "", "destination_host": "shop.example",
        "method": "GET", "is_bot": False, "bot_reason": "", "device_type": "mobile", "os": "iOS",
        "browser": "Mobile Safari", "referer": "", "ip_ref": f"ip-{click_id}", "domain": "go.shop.example",
    }
    row.update(fields)
    return row


def conversion(order_id: str, value: str, click_id: str = "", **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id, "type": "purchase", "value": Decimal(value), "currency": "EUR", "click_id": click_id,
        "recipient_ref": "", "ts": YESTERDAY_NOON + timedelta(hours=1), "source": "pixel", "verified": False,
    }
    row.update(fields)
    return row


@pytest.fixture
def shop_data(clickhouse: Client) -> Client:
    """Two channels, a bot click, a refund, an unattributed order and a campaign named like an attack."""
    insert_rows(clickhouse, [
        click("c1"), click("c2", ts=YESTERDAY_NOON - timedelta(days=1)),
        click("c3", is_bot=True, bot_reason="link_preview:imessage", device_type="bot"),
        click("w1", channel="whatsapp", campaign="Spring Drop", message="launch", utm_medium="whatsapp"),
        click("x1", campaign=XSS, message=XSS_MESSAGE, tags=["automation"]),
    ], [
        conversion("o1", "59.90", "c1"), conversion("o2", "129.00", "w1", source="shopify"), conversion("o3", "10.00"),
        conversion("o1", "5.00", "c1", type="refund"), conversion("o4", "20.00", "x1"),
        conversion("cart-1", "0", "c1", type="add_to_cart", currency=""),
        conversion("cart-2", "0", "w1", type="add_to_cart", currency=""),
        conversion("cart-1", "0", "c1", type="checkout", currency=""),
        conversion("s-1", "0", "c1", type="signup", currency=""),
        conversion("1001", "19.00", "w1", type="subscription", subscription_id="S1"),
        conversion("1002", "19.00", type="renewal", subscription_id="S1", ts=YESTERDAY_NOON + timedelta(hours=5)),
    ])
    return clickhouse


@pytest.fixture
def base_url(redis_url: str, shop_data: Client) -> Iterator[str]:
    with serve_in_thread(Admin(make_settings(redis_url), clickhouse=shop_data).app) as base:
        yield base


@pytest.fixture
def anonymous(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=REPORT_TIMEOUT) as client:
        yield client


@pytest.fixture
def logged_in(anonymous: httpx.Client) -> httpx.Client:
    reply = anonymous.post("/reports/login", data={"key": API_KEY, "next": "/reports"})
    assert reply.status_code == 303, reply.text
    return anonymous


@pytest.fixture
def api(base_url: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REPORT_TIMEOUT) as client:
        yield client


class Page(HTMLParser):
    """What the tests read from a dashboard page: channel cards, KPI cards, table rows, the export link."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.channels: dict[str, dict[str, str]] = {}
        self.kpis: list[str] = []
        self.rows: list[list[str]] = []
        self.sources: dict[str, list[str]] = {}  # the reconciliation panel, by source
        self.funnel: dict[str, str] = {}
        self.export = ""
        self._channel = ""
        self._in_tbody = False
        self._cell: list[str] | None = None
        self._source_cells: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "data-channel" in a:
            self._channel = a["data-channel"]
            self.channels[self._channel] = {}
        if "data-value" in a and self._channel:
            self.channels[self._channel][a["data-metric"]] = a["data-value"]
        if "kpi" in a.get("class", "").split():
            self.kpis.append(a["data-metric"])
        if "data-step" in a:
            self.funnel[a["data-step"]] = a["data-value"]
        if tag == "a" and "export" in a.get("class", ""):
            self.export = a["href"]
        if tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody and "data-source" in a:
            self.sources[a["data-source"]] = self._source_cells = []
        elif tag == "tr" and self._in_tbody:
            self._source_cells = None
            self.rows.append([])
        elif tag == "td" and self._in_tbody:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._channel = ""
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "td" and self._cell is not None:
            (self.rows[-1] if self._source_cells is None else self._source_cells).append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


# --- who may look --------------------------------------------------------------------------------------------

def test_without_credentials_the_page_redirects_to_the_login_form_and_the_csv_asks_for_basic(anonymous):
    reply = anonymous.get("/reports", params={"model": "linear"})
    assert reply.status_code == 303
    assert reply.headers["location"] == "/reports/login?next=%2Freports%3Fmodel%3Dlinear"
    form = anonymous.get(reply.headers["location"])
    assert form.status_code == 200 and 'type="password"' in form.text and 'method="post"' in form.text
    assert 'value="/reports?model=linear"' in form.text
    csv_reply = anonymous.get("/reports/export.csv")
    assert csv_reply.status_code == 401 and csv_reply.headers["www-authenticate"].startswith("Basic")


def test_a_wrong_key_is_refused_and_not_echoed(anonymous):
    wrong = "not-the-key-0123456789"
    reply = anonymous.post("/reports/login", data={"key": wrong})
    assert reply.status_code == 401 and "not valid" in reply.text
    assert wrong not in reply.text and "set-cookie" not in reply.headers
    assert anonymous.post("/reports/login", data={"key": ""}).status_code == 401
    assert anonymous.get("/reports", auth=("me", wrong)).status_code == 401
    assert anonymous.get("/reports/export.csv", auth=("me", wrong)).status_code == 401
    assert anonymous.get("/reports", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    assert anonymous.get("/reports/links", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401


def test_logging_in_sets_a_signed_http_only_strict_cookie_that_opens_the_dashboard(anonymous):
    reply = anonymous.post("/reports/login", data={"key": API_KEY, "next": "/reports?model=linear"})
    assert reply.status_code == 303 and reply.headers["location"] == "/reports?model=linear"
    [cookie] = reply.headers.get_list("set-cookie")
    assert cookie.startswith(f"{SESSION_COOKIE}=v1.")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes and "secure" not in attributes
    assert "samesite=strict" in cookie.lower() and "path=/reports" in cookie.lower()
    assert API_KEY not in cookie
    page = anonymous.get("/reports")
    assert page.status_code == 200 and "Top channels" in page.text
    assert anonymous.get("/reports/login").status_code == 303  # already in: straight to the dashboard


def test_the_cookie_is_secure_when_the_request_came_over_https(anonymous):
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, the TLS proxy in front of the admin.
    reply = anonymous.post("/reports/login", data={"key": API_KEY}, headers={"X-Forwarded-Proto": "https"})
    assert reply.status_code == 303 and "; secure" in reply.headers["set-cookie"].lower()


def test_a_tampered_cookie_is_refused_and_logout_clears_it(logged_in):
    token = logged_in.cookies[SESSION_COOKIE]
    logged_in.cookies.clear()
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert logged_in.get("/reports", headers={"cookie": f"{SESSION_COOKIE}={tampered}"}).status_code == 303
    assert logged_in.get("/reports", headers={"cookie": f"{SESSION_COOKIE}={token}"}).status_code == 200
    reply = logged_in.post("/reports/logout", headers={"cookie": f"{SESSION_COOKIE}={token}"})
    assert reply.status_code == 303 and reply.headers["location"] == "/reports/login"
    assert "max-age=0" in reply.headers["set-cookie"].lower() and "path=/reports" in reply.headers["set-cookie"].lower()


def test_sessions_expire_and_end_with_their_key() -> None:
    sessions = Sessions("s" * 32, ["key-one-0123456789", "key-two-0123456789"], ttl=60)
    token = sessions.issue("key-one-0123456789", now=1000)
    assert sessions.valid(token, now=1059) and not sessions.valid(token, now=1060)
    assert not Sessions("s" * 32, ["key-two-0123456789"]).valid(token, now=1000)  # key removed
    assert not Sessions("t" * 32, ["key-one-0123456789"]).valid(token, now=1000)  # another secret
    assert not sessions.valid("v2" + token[2:], now=1000) and not sessions.valid("", now=1000)
    assert "key-one" not in token


def test_basic_auth_takes_the_key_as_password_with_any_user_name(anonymous):
    for user in ("", "marketing", "ops@shop.example"):
        reply = anonymous.get("/reports", auth=(user, API_KEY))
        assert reply.status_code == 200 and "set-cookie" not in reply.headers
    assert anonymous.get("/reports/export.csv", params=PERIOD, auth=("x", API_KEY)).status_code == 200
    assert basic_password("Basic " + base64.b64encode(b"u:p:w").decode()) == "p:w"
    assert basic_password("Basic !!!") == "" and basic_password("Bearer abc") is None


def test_the_api_key_as_a_bearer_token_opens_every_dashboard_page_as_it_opens_the_api(anonymous):
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    page = anonymous.get("/reports", headers=bearer)
    assert page.status_code == 200 and "Top channels" in page.text and "set-cookie" not in page.headers
    assert anonymous.get("/reports/links", headers=bearer).status_code == 200
    export = anonymous.get("/reports/export.csv", params=PERIOD, headers=bearer)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert anonymous.get("/reports/login", headers=bearer).status_code == 303  # already in
    assert header_key(f"bearer  {API_KEY} ") == API_KEY and header_key("Token abc") is None


def test_the_key_never_appears_in_any_page_or_header(anonymous):
    replies = [anonymous.get("/reports/login"), anonymous.post("/reports/login", data={"key": API_KEY})]
    replies += [anonymous.get("/reports"), anonymous.get("/reports", params={"group_by": "channel,day"}),
                anonymous.get("/reports/export.csv", params=PERIOD)]
    for reply in replies:
        assert API_KEY not in reply.text
        assert all(API_KEY not in value for value in reply.headers.values())


def test_after_login_only_dashboard_paths_are_followed() -> None:
    assert safe_next("/reports?group_by=day") == "/reports?group_by=day"
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example", "/v1/links", "/reports/logout",
                   "/reports\r\nSet-Cookie: x"):
        assert safe_next(target) == "/reports"


# --- what is shown -------------------------------------------------------------------------------------------

def test_campaign_names_are_escaped_everywhere(logged_in):
    page = logged_in.get("/reports", params={**PERIOD, "group_by": "campaign,message",
                                             "exclude_tags": '"><b>x</b>'})
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and XSS not in page.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page.text and "<img" not in page.text
    assert "<b>x</b>" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert len(re.findall(r"<script", page.text)) == 0


def test_the_page_shows_channels_chart_table_formula_bots_and_unattributed_orders(logged_in):
    page = logged_in.get("/reports", params=PERIOD)
    parsed = Page(page.text)
    assert set(parsed.channels) == {"sms", "whatsapp"}
    assert parsed.kpis == ["net_revenue", "orders", "human_clicks", "conversion_rate", "bot_clicks",
                           "unattributed_orders", "recurring_revenue"]
    assert parsed.funnel == {"human_clicks": "4", "add_to_cart": "2.0000", "checkout": "1.0000", "orders": "3.0000",
                             "signup": "1.0000", "lead": "0.0000", "subscriptions": "1.0000"}
    assert re.search(r"Recurring revenue</div><div class=\"value\">19\.00 EUR", page.text)
    assert parsed.sources == {
        "pixel": ["pixel", "3", "89.90 EUR", "79.90 EUR", "88.9%", "5.00 EUR"],
        "shopify": ["shopify", "1", "129.00 EUR", "129.00 EUR", "100.0%", "0.00 EUR"],
        "all": ["all", "4", "218.90 EUR", "208.90 EUR", "95.4%", "5.00 EUR"],
    }
    assert parsed.channels["sms"]["bot_clicks"] == "1"
    assert page.text.count('class="bar"') == 1 and page.text.count('class="point"') == 2  # two days with clicks
    assert {(row[0], row[1]) for row in parsed.rows} == {("Black Friday", "reminder-1"), ("Spring Drop", "launch"),
                                                        (XSS, XSS_MESSAGE)}
    assert "is credited to the last human click" in page.text
    assert re.search(r"Unattributed: 1 order, 10\.00 EUR", page.text)
    assert 'placeholder="default 7d"' in page.text


def test_the_channel_summary_has_the_numbers_of_the_channel_report(logged_in, shop_data):
    parsed = Page(logged_in.get("/reports", params={**PERIOD, "model": "linear"}).text)
    query = ReportQuery.from_params({**PERIOD, "model": "linear", "group_by": "channel"}, datetime.now(UTC))
    report = campaign_report(shop_data, query, make_settings())
    assert len(report.rows) == len(parsed.channels) == 2
    for row in report.rows:
        shown = parsed.channels[str(row["channel"])]
        for name in ("revenue", "orders", "human_clicks", "bot_clicks", "conversion_rate"):
            assert shown[name] == ("" if row[name] is None else str(row[name])), name
    assert parsed.channels["sms"]["revenue"] == "79.90" and parsed.channels["whatsapp"]["orders"] == "1.0000"


@pytest.mark.parametrize("params", [
    {},
    PERIOD,
    {**PERIOD, "group_by": "channel,campaign,message,day", "model": "linear"},
    {**PERIOD, "group_by": "source,medium", "window": "1d", "currency": "eur", "exclude_tags": "automation"},
    {**PERIOD, "group_by": "campaign", "model": "first_click", "currency": "USD"},
])
def test_the_csv_export_is_the_api_csv_for_the_same_filters(logged_in, api, params):
    exported = logged_in.get("/reports/export.csv", params=params)
    expected = api.get("/v1/reports/campaigns", params={**params, "format": "csv"})
    assert exported.status_code == expected.status_code == 200
    assert exported.text == expected.text and len(exported.text.splitlines()) >= 1
    assert exported.headers["content-type"] == expected.headers["content-type"]
    assert exported.headers["content-disposition"] == expected.headers["content-disposition"]


def test_the_export_button_exports_exactly_the_rows_on_the_screen(logged_in, api):
    parsed = Page(logged_in.get("/reports", params={"model": "linear", "group_by": "channel"}).text)
    path, _, query = parsed.export.replace("&amp;", "&").partition("?")
    assert path == "/reports/export.csv" and "from=" in query and "to=" in query and "group_by=channel" in query
    exported = logged_in.get(f"{path}?{query}")
    assert exported.text == api.get(f"/v1/reports/campaigns?{query}&format=csv").text
    assert len(exported.text.splitlines()) - 1 == len(parsed.rows) == 2


def test_bad_filters_show_what_is_wrong_and_keep_the_form(logged_in):
    page = logged_in.get("/reports", params={"window": "soon", "group_by": "campaign"})
    assert page.status_code == 400 and "window:" in page.text and 'name="window" type="text" value="soon"' in page.text
    assert logged_in.get("/reports/export.csv", params={"window": "soon"}).status_code == 400


def test_without_clickhouse_the_dashboard_says_so_instead_of_failing(redis_url):
    with serve_in_thread(Admin(make_settings(redis_url)).app) as base:
        reply = httpx.get(f"{base}/reports", auth=("", API_KEY))
    assert reply.status_code == 503
    assert "ClickHouse is not connected" in reply.text and "TRACKER_CLICKHOUSE_URL" in reply.text
    assert 'action="/reports"' in reply.text  # the page itself still renders


def test_the_stylesheet_is_served_without_login_and_cached_when_versioned(anonymous):
    reply = anonymous.get("/reports/dashboard.css")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/css")
    login = anonymous.get("/reports/login").text
    versioned = re.search(r'href="(/reports/dashboard\.css\?v=\w+)"', login)
    assert versioned and "immutable" in anonymous.get(versioned.group(1)).headers["cache-control"]


# --- the chart -----------------------------------------------------------------------------------------------

def test_windows_are_written_the_way_the_parameter_takes_them() -> None:
    assert [compact_window(s) for s in (604800, 86400 + 3600, 5400, 90)] == ["7d", "25h", "90m", "90s"]


def test_nice_ceilings_make_readable_axes() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 3, 7, 11, 240, 2600)] == [1, 0.5, 1, 5, 10, 20, 250, 5000]


def test_the_chart_has_a_slot_per_day_and_escapes_its_tooltips(shop_data) -> None:
    query = ReportQuery.from_params({**PERIOD, "group_by": "day"}, datetime.now(UTC))
    report = campaign_report(shop_data, query, make_settings())
    chart = TEMPLATES.get_template("chart.html")
    svg = chart.render(chart=daily_chart(report, query.start, query.end))
    assert svg.startswith('<div class="chart"><svg') and svg.count('class="bar"') == 1
    assert len(daily_chart(report, query.start, query.end).labels) >= 2  # type: ignore[union-attr]
    assert f"{(YESTERDAY_NOON).date().isoformat()}: 208.90 EUR revenue, 3 orders" in svg
    empty = campaign_report(shop_data, ReportQuery.from_params({"from": "2001-01-01", "to": "2001-01-31",
                                                                "group_by": "day"}, datetime.now(UTC)), make_settings())
    assert daily_chart(empty, empty.query.start, empty.query.end) is None
    assert "No clicks or orders" in chart.render(chart=None)


def test_the_delivery_funnel_shows_sent_delivered_clicked_and_ordered(logged_in, shop_data):
    def text(message_id: str, status: str, **fields: Any) -> dict[str, Any]:
        row = {"message_id": message_id, "status": status, "ts": YESTERDAY_NOON - timedelta(hours=2),
               "recipient_ref": "", "code": "abc", "channel": "sms", "campaign": "Black Friday", "message": "m1",
               "tags": [], "utm_source": "", "utm_medium": "sms", "utm_campaign": "", "utm_content": "",
               "utm_term": "", "provider": "twilio", "error_code": "", "source": "api"}
        return {**row, **fields}

    insert_rows(shop_data, messages=[
        *(text(f"m{i}", "sent") for i in range(4)), *(text(f"m{i}", "delivered", source="twilio") for i in range(3)),
        text("m3", "undelivered", source="twilio", error_code="30003"),
    ])
    page = logged_in.get("/reports", params=PERIOD).text
    funnel = page[page.index('<ol class="funnel">'):page.index("</ol>", page.index('<ol class="funnel">'))]
    values = dict(re.findall(r'data-metric="(\w+)" data-value="([^"]*)"', funnel))
    report = campaign_report(shop_data, ReportQuery.from_params({**PERIOD, "group_by": "channel"},
                                                                datetime.now(UTC)), make_settings())
    orders = sum(Decimal(str(row["orders"])) for row in report.rows)
    assert (values["sent"], values["delivered"]) == ("4", "3")
    assert Decimal(values["unique_clickers"]) == sum(row["unique_clickers"] for row in report.rows)  # type: ignore
    assert Decimal(values["orders"]) == orders
    assert "75.0% of sent" in funnel and 'id="f-view_window"' in page


def test_without_texts_in_the_period_there_is_no_funnel(logged_in):
    assert '<ol class="funnel">' not in logged_in.get("/reports", params=PERIOD).text
