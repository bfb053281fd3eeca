"""The dashboard's links page and bots panel, over real HTTP against real Redis and chDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from tests.reports.test_campaign import click, purchase
from tests.support.clickhouse import insert_rows
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin

T = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def stack(redis_url: str, clickhouse: Client) -> Iterator[tuple[httpx.Client, httpx.Client, Client]]:
    with (
        serve_in_thread(Admin(make_settings(redis_url, TRACKER_SHORT_DOMAINS="go.brand.example"),
                              clickhouse=clickhouse).app) as base,
        httpx.Client(base_url=base, headers=AUTH) as api,
        httpx.Client(base_url=base, follow_redirects=False) as browser,
    ):
        assert browser.post("/reports/login", data={"key": API_KEY, "next": "/reports/links"}).status_code == 303
        yield api, browser, clickhouse


def make_link(api: httpx.Client, **body: object) -> dict:
    reply = api.post("/v1/links", json={"destination": "https://shop.example/", **body})
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_links_show_their_clicks_and_revenue_and_the_bots_panel_its_reasons(stack) -> None:
    api, browser, clickhouse = stack
    sale = make_link(api, code="spring-sale", campaign="spring", message="<b>Reminder</b>")
    quiet = make_link(api, campaign="summer", domain="go.brand.example")
    insert_rows(clickhouse, clicks=[
        click("c1", T, code="spring-sale", domain="go.shop.example"),
        click("c2", T, code="spring-sale", domain="go.shop.example", recipient_ref="r2"),
        click("b1", T, code="spring-sale", domain="go.shop.example", is_bot=True, bot_reason="link_preview:imessage"),
    ], conversions=[purchase("o1", T + timedelta(minutes=3), "80.00", click_id="c1")])
    page = browser.get("/reports/links")
    assert page.status_code == 200, page.text
    html = page.text
    row = html[html.index("https://go.shop.example/spring-sale"):]
    row = row[:row.index("</tr>")]
    assert ">3<" in row and ">2<" in row and "80.00" in row
    assert "&lt;b&gt;Reminder&lt;/b&gt;" in row and "<b>Reminder" not in html  # autoescaped
    assert f"https://go.brand.example/{quiet['code']}" in html
    assert "link_preview:imessage" in html and "1 of 3 clicks" in html
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert sale["code"] in browser.get("/reports/links", params={"q": "spring-"}).text
    assert quiet["code"] not in browser.get("/reports/links", params={"q": "spring-"}).text


def test_disable_enable_and_delete_from_the_page(stack) -> None:
    api, browser, _ = stack
    link = make_link(api)
    code, origin = link["code"], str(browser.base_url).rstrip("/")
    reply = browser.post(f"/reports/links/{code}/disable", params={"back": "/reports/links?q=x"},
                         headers={"origin": origin})
    assert reply.status_code == 303 and reply.headers["location"] == "/reports/links?q=x"
    assert api.get(f"/v1/links/{code}").json()["disabled"] is True
    browser.post(f"/reports/links/{code}/enable", headers={"origin": origin})
    assert api.get(f"/v1/links/{code}").json()["disabled"] is False
    assert browser.post(f"/reports/links/{code}/delete", params={"back": "https://evil.example/"},
                        headers={"origin": origin}).headers["location"] == "/reports/links"
    assert api.get(f"/v1/links/{code}").status_code == 404


def test_a_post_from_another_site_or_without_a_session_changes_nothing(stack) -> None:
    api, browser, _ = stack
    code = make_link(api)["code"]
    assert browser.post(f"/reports/links/{code}/delete", headers={"origin": "https://evil.example"}).status_code == 400
    assert browser.post(f"/reports/links/{code}/delete", headers={"sec-fetch-site": "cross-site"}).status_code == 400
    with httpx.Client(base_url=browser.base_url, follow_redirects=False) as stranger:
        assert stranger.post(f"/reports/links/{code}/delete").status_code == 303  # to the login page
        assert stranger.get("/reports/links").headers["location"].startswith("/reports/login")
        assert stranger.get(f"/reports/links/{code}/qr.svg").status_code == 303
    assert api.get(f"/v1/links/{code}").status_code == 200


def test_the_page_serves_each_links_qr_code(stack) -> None:
    api, browser, _ = stack
    link = make_link(api, domain="go.brand.example")
    svg = browser.get(f"/reports/links/{link['code']}/qr.svg", params={"domain": "go.brand.example"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert link["short_url"].encode() in svg.content  # segno puts the URL in the SVG title
    assert browser.get("/reports/links/nope123/qr.svg").status_code == 404
