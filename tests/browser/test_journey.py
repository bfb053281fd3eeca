"""The journey a customer and a marketer make, in headless Chromium against `tracker dev --demo`.

Tap a short link -> the demo shop's landing page with UTM tags and the click id -> /t.js keeps the id in the
shop's own cookie -> buy -> the thank-you page fires the pixel -> the order is credited to its campaign and
message in the report; a link preview is counted as a bot and never credited; the dashboard shows it all and
its CSV button downloads the API's rows. Every wait is on a condition with a deadline, never a sleep.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext

from shortlinks.utm import normalise_utm_value
from tests.support.browser import IPHONE_UA, desktop_agent, new_context
from tests.support.servers import wait_until
from tracker.dev.embedded_redis import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLEAN_ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}, "PYTHONPATH": str(REPO)}
IMESSAGE_PREVIEW_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
                       "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0")
PRICES = {"Black Friday": "89.90", "Spring Drop": "129.00", "Welcome flow": "24.50"}
REPORT_DEADLINE = 30.0  # the loader moves events about once a second
LINK_LINE = re.compile(r"^\s+(http://\S+/\w+)\s+(sms|whatsapp)\s+(.+?) / (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class DemoLink:
    url: str
    channel: str
    campaign: str
    message: str


@dataclass(frozen=True)
class Dev:
    admin: str
    edge: str
    shop: str
    key: str
    links: list[DemoLink]

    def link(self, campaign: str, message: str) -> DemoLink:
        return next(link for link in self.links if (link.campaign, link.message) == (campaign, message))

    def report(self, **params: str) -> dict[str, Any]:
        reply = httpx.get(f"{self.admin}/v1/reports/campaigns", params={"group_by": "campaign,message", **params},
                          headers={"Authorization": f"Bearer {self.key}"}, timeout=10)
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result

    def row(self, campaign: str, message: str) -> dict[str, Any]:
        """The report row of one campaign and message; zeros before its first click."""
        for row in self.report()["rows"]:
            if (row["campaign"], row["message"]) == (normalise_utm_value(campaign), message):
                return dict(row)
        return {"clicks": 0, "human_clicks": 0, "bot_clicks": 0, "orders": 0, "revenue": 0}


def free_port_with_next() -> int:
    """A free port whose successor is free too: `tracker dev --demo` serves the shop on admin port + 1."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    cwd = tmp_path_factory.mktemp("demo")
    edge_port, admin_port = free_port(), free_port_with_next()
    log = cwd / "dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "dev", "--demo", "--edge-port", str(edge_port),
             "--admin-port", str(admin_port), "--metrics-port", str(free_port())],
            cwd=cwd, env=CLEAN_ENV, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def banner() -> list[DemoLink]:
        if process.poll() is not None:
            raise AssertionError(f"tracker dev --demo exited with {process.returncode}:\n{log.read_text()}")
        links = [DemoLink(*match) for match in LINK_LINE.findall(log.read_text())]
        return links if len(links) == 6 else []

    try:
        links = wait_until(banner, timeout=90, interval=0.1, message="the demo links in the banner")
        yield Dev(admin=f"http://127.0.0.1:{admin_port}", edge=f"http://localhost:{edge_port}",
                  shop=f"http://127.0.0.1:{admin_port + 1}", key=(cwd / "data" / "api_key").read_text().strip(),
                  links=links)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, log.read_text()
    assert "stopped cleanly" in log.read_text()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def buy_through(context: BrowserContext, dev: Dev, link: DemoLink) -> tuple[str, str]:
    """Tap the link, land, buy; returns the click id and the order id the pixel carried."""
    page = context.new_page()
    page.goto(link.url)
    landed = urlsplit(page.url)
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{dev.shop}/landing", page.url
    query = parse_qs(landed.query)
    assert query["utm_source"][0] and query["utm_medium"] == [link.channel]
    assert query["utm_campaign"] == [link.campaign.lower().replace(" ", "_")]
    [click_id] = query["sclid"]

    # /t.js copied the id into the shop's own cookie, readable by the shop's scripts (not the edge's HttpOnly one).
    assert f"sclid={click_id}" in page.evaluate("document.cookie")
    [shop_cookie] = [c for c in context.cookies(dev.shop) if c["name"] == "sclid"]
    assert shop_cookie["value"] == click_id and not shop_cookie["httpOnly"]

    with page.expect_response(lambda response: urlsplit(response.url).path == "/px.gif") as fired:
        page.click("a.buy")
    pixel = fired.value
    assert pixel.status == 200 and pixel.header_value("content-type") == "image/gif"
    assert pixel.url.startswith(f"{dev.edge}/px.gif?")
    sent = parse_qs(urlsplit(pixel.url).query)
    assert sent["sclid"] == [click_id] and sent["value"] == [PRICES[link.campaign]] and sent["currency"] == ["EUR"]
    assert urlsplit(page.url).path == "/thank-you"
    page.close()
    return click_id, sent["order_id"][0]


def wait_for_credit(dev: Dev, link: DemoLink, before: dict[str, Any]) -> dict[str, Any]:
    def credited() -> dict[str, Any] | None:
        row = dev.row(link.campaign, link.message)
        # The report reads clicks and credit in separate queries: the loader may land the click and the order
        # between them, so wait until both show (the assertions below still say they moved by exactly one).
        moved = row["orders"] >= before["orders"] + 1 and row["human_clicks"] >= before["human_clicks"] + 1
        return row if moved else None

    row = wait_until(credited, timeout=REPORT_DEADLINE, interval=0.2, message=f"the order credited to {link}")
    assert row["orders"] == before["orders"] + 1
    assert round(row["revenue"] - before["revenue"], 2) == float(PRICES[link.campaign])
    assert row["human_clicks"] == before["human_clicks"] + 1
    return row


def test_a_tap_and_a_purchase_in_chromium_are_credited_to_the_campaign_and_message(dev, browser):
    link = dev.link("Black Friday", "teaser")
    before = dev.row(link.campaign, link.message)
    context = new_context(browser, user_agent=desktop_agent(browser))
    try:
        buy_through(context, dev, link)
    finally:
        context.close()
    wait_for_credit(dev, link, before)


def test_the_same_journey_on_an_iphone_is_credited_to_its_whatsapp_message(dev, browser):
    link = dev.link("Spring Drop", "launch")
    before = dev.row(link.campaign, link.message)
    context = new_context(browser, user_agent=IPHONE_UA, viewport={"width": 390, "height": 844},
                          device_scale_factor=3, is_mobile=True, has_touch=True)
    try:
        buy_through(context, dev, link)
    finally:
        context.close()
    wait_for_credit(dev, link, before)
    channels = {row["channel"]: row for row in dev.report(group_by="channel")["rows"]}
    assert channels["whatsapp"]["orders"] >= 1


def test_an_imessage_link_preview_is_a_bot_click_and_its_click_id_earns_no_credit(dev):
    link = dev.link("Welcome flow", "welcome-1")
    before, unattributed = dev.row(link.campaign, link.message), dev.report()["unattributed_orders"]
    preview = httpx.get(link.url, headers={"user-agent": IMESSAGE_PREVIEW_UA}, follow_redirects=False, timeout=10)
    assert preview.status_code == 302
    [click_id] = parse_qs(urlsplit(preview.headers["location"]).query)["sclid"]
    # Even a purchase that carries the preview's click id (the worst case) must not credit the message.
    pixel = httpx.get(f"{dev.edge}/px.gif", timeout=10, params={
        "order_id": f"preview-{uuid.uuid4().hex[:10]}", "value": "24.50", "currency": "EUR", "type": "purchase",
        "sclid": click_id,
    })
    assert pixel.status_code == 200

    key = (normalise_utm_value(link.campaign), link.message)

    def settled() -> dict[str, Any] | None:
        report = dev.report()
        row = next((r for r in report["rows"] if (r["campaign"], r["message"]) == key), None)
        done = row and row["bot_clicks"] == before["bot_clicks"] + 1 and report["unattributed_orders"] > unattributed
        return row if done else None

    row = wait_until(settled, timeout=REPORT_DEADLINE, interval=0.2, message="the preview click and its order")
    assert row["orders"] == before["orders"] and row["revenue"] == before["revenue"]
    assert row["human_clicks"] == before["human_clicks"]

    # Its reason is where the README's tour says it is: the bots report, `tracker report --bots` and the dashboard's
    # links page.
    auth = {"Authorization": f"Bearer {dev.key}"}
    bots = httpx.get(f"{dev.admin}/v1/reports/bots", headers=auth, timeout=10).json()
    assert any(r["bot_reason"] == "link_preview:imessage" and r["clicks"] >= 1 for r in bots["rows"]), bots
    cli = subprocess.run([sys.executable, "-m", "tracker.cli", "report", "--bots", "--format", "csv"],
                         env={**CLEAN_ENV, "TRACKER_ADMIN_URL": dev.admin, "TRACKER_API_KEY": dev.key},
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0 and any(line.startswith("link_preview:imessage,") for line in cli.stdout.splitlines())
    page = httpx.get(f"{dev.admin}/reports/links", headers={"Authorization": basic("tour", dev.key)}, timeout=10)
    assert page.status_code == 200 and "Bots and link previews" in page.text and "link_preview:imessage" in page.text
    assert "link_preview:imessage" in (REPO / "README.md").read_text()


def test_the_dashboard_logs_in_charts_the_day_and_exports_the_api_csv(dev, browser, tmp_path):
    link = dev.link("Black Friday", "reminder-1")
    before = dev.row(link.campaign, link.message)
    context = new_context(browser, user_agent=desktop_agent(browser), viewport={"width": 1280, "height": 900},
                          accept_downloads=True)
    try:
        buy_through(context, dev, link)
        wait_for_credit(dev, link, before)

        page = context.new_page()
        page.goto(f"{dev.admin}/reports")
        assert urlsplit(page.url).path == "/reports/login"
        page.fill("input[name=key]", dev.key)
        page.click("button[type=submit]")
        page.wait_for_url(f"{dev.admin}/reports")
        [session] = [c for c in context.cookies(f"{dev.admin}/reports") if c["name"] == "tracker_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict" and dev.key not in session["value"]
        assert dev.key not in page.content()

        assert page.locator("svg.daily rect.bar").count() >= 1
        assert page.locator("svg.daily circle.point").count() >= 1
        rows = page.locator("table.roi tbody tr")
        assert rows.count() >= 3
        cells = [[cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]
        assert all(row[0] and all(row) for row in cells)
        assert any(row[:2] == ["black_friday", "reminder-1"] for row in cells)
        assert page.locator('article.channel[data-channel="sms"]').count() == 1
        assert "never credited" in page.locator("#report-formula").inner_text()

        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        image = shot.read_bytes()
        assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 10_000

        with page.expect_download() as downloading:
            page.click("a.export")
        download = downloading.value
        assert download.suggested_filename.startswith("campaigns_") and download.suggested_filename.endswith(".csv")
        downloaded = Path(download.path()).read_text()
        query = (page.get_attribute("a.export", "href") or "").partition("?")[2]
        api_csv = httpx.get(f"{dev.admin}/v1/reports/campaigns?{query}&format=csv", timeout=10,
                            headers={"Authorization": f"Bearer {dev.key}"}).text
        downloaded_rows = list(csv.reader(io.StringIO(downloaded)))
        assert downloaded_rows == list(csv.reader(io.StringIO(api_csv)))
        assert len(downloaded_rows) == rows.count() + 1
    finally:
        context.close()


def test_the_dashboard_fits_a_phone_and_takes_the_key_as_basic_password(dev, browser, tmp_path):
    context = new_context(browser, user_agent=IPHONE_UA, viewport={"width": 390, "height": 844},
                          device_scale_factor=2, is_mobile=True, has_touch=True,
                          extra_http_headers={"Authorization": basic("marketing", dev.key)})
    try:
        page = context.new_page()
        page.goto(f"{dev.admin}/reports")
        assert urlsplit(page.url).path == "/reports" and page.locator("table.roi").count() == 1
        # Only the table and the chart may scroll sideways; the page itself fits the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        assert (tmp_path / "phone.png").read_bytes().startswith(b"\x89PNG")
    finally:
        context.close()
