"""The demo storefront of `tracker dev --demo`, over real HTTP: pages from templates, input escaped."""

from __future__ import annotations

import httpx

from tests.support.servers import serve_in_thread
from tracker.dev.demo import DemoLink, DemoShop


def test_the_storefront_escapes_what_the_url_says_and_the_thank_you_page_queues_the_conversion():
    shop = DemoShop("http://localhost:8080", 8082, "http://127.0.0.1:8081/reports")
    shop.links = [DemoLink("Black <Friday>", "m1", "sms", "+14155550123", "http://localhost:8080/abc123")]
    with serve_in_thread(shop.app) as base:
        index = httpx.get(f"{base}/")
        landing = httpx.get(f"{base}/landing", params={"product": "jacket", "utm_source": "<script>x</script>"})
        thanks = httpx.get(f"{base}/thank-you", params={"product": "socks", "order_id": "D-ABC123"})
        forged = httpx.get(f"{base}/thank-you", params={"order_id": '"]);alert(1)//'})
    assert index.status_code == 200 and "Black &lt;Friday&gt;" in index.text
    assert 'href="http://localhost:8080/abc123"' in index.text
    assert '<script src="http://localhost:8080/t.js"></script>' in index.text  # in <head>, as a shop's theme has it
    assert "&lt;script&gt;x&lt;/script&gt;" in landing.text and "<script>x" not in landing.text
    assert "Packable rain jacket" in landing.text and 'href="/checkout?product=jacket"' in landing.text
    assert '"order_id": "D-ABC123"' in thanks.text and '"value": "24.50"' in thanks.text
    assert "alert(1)" not in forged.text  # an order id that is not one of ours is replaced, never echoed
    assert all(r.headers["cache-control"] == "no-store" for r in (index, landing, thanks))
