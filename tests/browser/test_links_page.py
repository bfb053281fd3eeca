"""The links page in a real browser (Debian's chromium): the QR code it draws scans, its buttons work."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import png
import pytest
import zxingcpp
from playwright.sync_api import Browser

from tests.support.browser import new_context
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def admin_url(redis_url: str) -> Iterator[str]:
    with serve_in_thread(Admin(make_settings(redis_url, TRACKER_SHORT_DOMAINS="go.brand.example")).app) as base:
        yield base


def decode(png_bytes: bytes) -> list[str]:
    width, height, rows, info = png.Reader(bytes=png_bytes).asRGBA8()
    gray = bytearray()
    for row in rows:
        gray += bytes(row[i] * 299 // 1000 + row[i + 1] * 587 // 1000 + row[i + 2] * 114 // 1000
                      for i in range(0, len(row), 4))
    return [code.text for code in zxingcpp.read_barcodes(memoryview(bytes(gray)).cast("B", (height, width)))]


def test_the_qr_code_on_the_links_page_scans_to_the_short_url_and_delete_removes_the_link(
    browser: Browser, admin_url: str
) -> None:
    with httpx.Client(base_url=admin_url, headers=AUTH) as api:
        link = api.post("/v1/links", json={"destination": "https://shop.example/spring", "code": "spring-qr",
                                           "domain": "go.brand.example"}).json()
        context = new_context(browser, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{admin_url}/reports/login?next=/reports/links")
        page.fill("input[name=key]", API_KEY)
        page.click("button[type=submit]")
        page.wait_for_url("**/reports/links")
        qr = page.locator("img.qr").first
        qr.wait_for()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
        opened = context.new_page()
        opened.set_viewport_size({"width": 600, "height": 600})
        opened.goto(f"{admin_url}/reports/links/spring-qr/qr.svg?domain=go.brand.example")
        assert decode(opened.screenshot()) == [link["short_url"]] == ["https://go.brand.example/spring-qr"]
        with page.expect_navigation():
            page.click("button[aria-label='Delete https://go.brand.example/spring-qr']")
        assert "spring-qr" not in page.content()
        assert api.get("/v1/links/spring-qr").status_code == 404
        context.close()
