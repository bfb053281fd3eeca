"""/t.js on a Shopify storefront, in headless Chromium: the click id reaches the order through the cart.

A fake storefront plays Shopify's part: its pages set `window.Shopify` as Shopify's themes do and load /t.js,
it serves the Ajax cart API's `POST /cart/update.js` (the cart's attributes, kept per `cart` cookie), and its
checkout turns the cart into an `orders/paid` delivery shaped like Shopify's sample, attributes becoming the
order's `note_attributes`, signed with the shop's secret and posted to the edge's `/hooks/shopify`. The tap
goes through a real short link; the report credits the order to the link's campaign.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from playwright.sync_api import Browser, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.stores.platforms import sample, shopify_body, shopify_headers
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, desktop_agent
from tests.support.processes import load_into_clickhouse
from tests.support.servers import serve_in_thread, wait_until
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge

pytestmark = pytest.mark.slow

SHOP_SECRET = "shpss_browser_0123456789abcdef0123"
ORDER_ID = 5_940_139_491_234_567_890  # beyond 2^53, as Shopify's are
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Tee</title>
<script>window.Shopify = {{shop: "demo-store.myshopify.com", routes: {{root: "{root}"}}}};</script>
<script async src="{edge}/t.js"></script></head>
<body><h1>Organic tee</h1><form method="post" action="{root}checkout"><button id="buy">Buy now</button></form>
</body></html>"""


class FakeShopify:
    """The storefront side of Shopify: pages, the Ajax cart and a checkout that fires orders/paid."""

    def __init__(self, edge: str) -> None:
        self.edge = edge
        self.base = ""  # the storefront's own URL, once it is served
        self.carts: dict[str, dict[str, str]] = {}
        self.updates: list[dict[str, Any]] = []
        self.deliveries: list[httpx.Response] = []
        self.app = Starlette(routes=[
            Route("/products/tee", self.product),
            Route("/fr/products/tee", self.product),
            Route("/cart/update.js", self.update_cart, methods=["POST"]),
            Route("/fr/cart/update.js", self.update_cart, methods=["POST"]),
            Route("/checkout", self.checkout, methods=["POST"]),
            Route("/fr/checkout", self.checkout, methods=["POST"]),
        ])

    async def product(self, request: Request) -> Response:
        root = "/fr/" if request.url.path.startswith("/fr/") else "/"
        return HTMLResponse(PAGE.format(root=root, edge=self.edge))

    def _cart(self, request: Request) -> tuple[str, dict[str, str]]:
        token = request.cookies.get("cart") or secrets.token_hex(16)
        return token, self.carts.setdefault(token, {})

    async def update_cart(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.updates.append({"content_type": request.headers.get("content-type"), "body": body})
        token, attributes = self._cart(request)
        attributes.update({str(k): str(v) for k, v in body.get("attributes", {}).items()})
        # Shopify's answer is the cart, whose token is the `cart` cookie plus a key.
        reply = JSONResponse({"token": f"{token}?key=k{token[:6]}", "attributes": attributes, "items": [],
                              "item_count": 0})
        reply.set_cookie("cart", token, path="/")
        return reply

    async def checkout(self, request: Request) -> Response:
        _, attributes = self._cart(request)
        order = sample("shopify_orders_paid.json")
        order.update({"id": ORDER_ID, "test": False, "financial_status": "paid", "cancelled_at": None,
                      "note_attributes": [{"name": k, "value": v} for k, v in attributes.items()],
                      "total_price": "42.50", "currency": "EUR", "processed_at": None, "created_at": None})
        body = shopify_body(order)
        async with httpx.AsyncClient() as client:
            self.deliveries.append(await client.post(f"{self.edge}/hooks/shopify", content=body,
                                                     headers=shopify_headers("orders/paid", body, SHOP_SECRET)))
        return HTMLResponse("<p>Thank you</p>")


@pytest.fixture
def stack(redis_url: str, clickhouse: Client) -> Iterator[tuple[str, str, FakeShopify]]:
    settings = make_settings(redis_url, TRACKER_SHOPIFY_SECRET=SHOP_SECRET, TRACKER_SHORT_BASE="http://127.0.0.1")
    with serve_in_thread(Edge(settings)) as edge, serve_in_thread(Admin(settings, clickhouse=clickhouse).app) as admin:
        shop = FakeShopify(edge)
        with serve_in_thread(shop.app) as shop.base:
            yield edge, admin, shop


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                              timeout=60_000)
        yield chromium
        chromium.close()


def test_the_click_id_goes_into_the_cart_and_the_paid_order_is_credited_to_the_tap(
    stack: tuple[str, str, FakeShopify], browser: Browser, redis_url: str, clickhouse: Client
) -> None:
    edge, admin, shop = stack
    auth = {"Authorization": f"Bearer {API_KEY}"}
    link = httpx.post(f"{admin}/v1/links", headers=auth, json={
        "destination": f"{shop.base}/products/tee",
        "utm": {"source": "attentive", "medium": "sms", "campaign": "Spring Drop"},
    }).json()

    context = browser.new_context(user_agent=desktop_agent(browser))
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{edge}/{link['code']}")
    [click_id] = parse_qs(urlsplit(page.url).query)["sclid"]

    wait_until(lambda: any(c.get("sclid") == click_id for c in shop.carts.values()), timeout=20,
               message="the click id in the cart attributes")
    assert shop.updates[0] == {"content_type": "application/json", "body": {"attributes": {"sclid": click_id}}}
    page.wait_for_function("sessionStorage.getItem('tracker_cart_sclid')")

    # Browsing on: the cart already carries the id, so the script leaves it alone.
    page.goto(f"{shop.base}/products/tee")
    page.wait_for_function("typeof window.tracker === 'function'")
    page.wait_for_load_state("networkidle")
    assert len(shop.updates) == 1

    page.click("#buy")
    page.wait_for_selector("text=Thank you")
    [delivery] = shop.deliveries
    assert delivery.status_code == 200 and delivery.json()["accepted"] == 1
    context.close()

    def credited() -> dict[str, Any] | None:
        # Playwright's sync API keeps an event loop on this thread: the loader runs its own on another.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(load_into_clickhouse, redis_url, clickhouse).result()
        rows = httpx.get(f"{admin}/v1/reports/campaigns", headers=auth, params={"group_by": "campaign"}).json()["rows"]
        row = next((r for r in rows if r["campaign"] == "spring_drop"), None)
        return row if row and row["orders"] == 1 else None

    row = wait_until(credited, timeout=30, interval=0.2, message="the order credited to its campaign")
    assert (row["orders"], row["revenue"], row["human_clicks"]) == (1, 42.5, 1)
    stored = clickhouse.query("SELECT order_id, click_id, source FROM conversions").result_rows
    assert stored == [(str(ORDER_ID), click_id, "shopify")]


def test_a_locale_root_and_a_later_cart_each_get_the_id(stack: tuple[str, str, FakeShopify], browser: Browser) -> None:
    _, _, shop = stack
    context = browser.new_context(user_agent=desktop_agent(browser))
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{shop.base}/fr/products/tee?sclid=Fr_click-1")
    wait_until(lambda: any(c.get("sclid") == "Fr_click-1" for c in shop.carts.values()), timeout=20,
               message="the id in the cart through the locale root")
    page.wait_for_function("sessionStorage.getItem('tracker_cart_sclid')")
    # After a checkout Shopify starts a new cart: the next page writes the id into it too.
    context.clear_cookies()
    context.add_cookies([{"name": "sclid", "value": "Fr_click-1", "url": shop.base}])
    page.goto(f"{shop.base}/products/tee")
    wait_until(lambda: sum(c.get("sclid") == "Fr_click-1" for c in shop.carts.values()) == 2, timeout=20,
               message="the id in the new cart")
    # A malformed id in the landing URL is never written anywhere.
    page.goto(f"{shop.base}/products/tee?sclid=%3Cscript%3E")
    page.wait_for_function("typeof window.tracker === 'function'")
    page.wait_for_load_state("networkidle")
    assert all(value == "Fr_click-1" for cart in shop.carts.values() for value in cart.values())
    context.close()
