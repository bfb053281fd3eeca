"""The URL standard's test data through the real product: POST /v1/links, then a tap on the edge.

`tests/shortlinks/test_destination.py` runs every case through the functions the edge uses; this
runs a representative subset (every fifth case, and the IDN one the old parser got wrong) the
whole way, over HTTP, against a real redis-server.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from loadtest.references import SUITE_UTM, UrlCase, judge, url_cases
from shortlinks.destination import POLICY_REASONS, REASONS
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge

CASES = url_cases()
SUBSET = [case for n, case in enumerate(CASES) if n % 5 == 0 or case.input.startswith("https://faß")]


class Phone:
    """Taps with a plain HTTP client: httpx reads a Location's host (with IDNA 2008) even when it does not
    follow it, and fails on hosts the URL standard allows, such as `xn--n3h` (a snowman)."""

    def __init__(self, base_url: str) -> None:
        self._address = urlsplit(base_url).netloc

    def tap(self, code: str) -> tuple[int, str, str]:
        """(status, Location, Set-Cookie)."""
        connection = http.client.HTTPConnection(self._address, timeout=30)
        try:
            connection.request("GET", f"/{code}", headers={"user-agent": "Mozilla/5.0 (iPhone)"})
            reply = connection.getresponse()
            reply.read()
            return reply.status, reply.getheader("location", ""), reply.getheader("set-cookie", "")
        finally:
            connection.close()


@pytest.fixture
def product(redis_url: str) -> Iterator[tuple[httpx.Client, Phone]]:
    settings = make_settings(redis_url)
    with (
        serve_in_thread(Admin(settings).app) as admin_url,
        serve_in_thread(Edge(settings)) as edge_url,
        httpx.Client(base_url=admin_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30) as admin,
    ):
        yield admin, Phone(edge_url)


def tap(admin: httpx.Client, phone: Phone, case: UrlCase) -> tuple[str | None, str, str]:
    """(Location, refusal reason, click id) for a link to the case's input."""
    created = admin.post("/v1/links", json={"destination": case.input, "utm": SUITE_UTM})
    if created.status_code == 422:
        message = created.json()["error"].removeprefix("destination: ")
        reason = next((code for code, text in REASONS.items() if message.startswith(text.split(" (")[0])), message)
        return None, reason, ""
    assert created.status_code == 201, created.text
    status, location, cookie = phone.tap(created.json()["code"])
    assert status == 302
    return location, "", cookie.partition("=")[2].partition(";")[0]


def test_the_subset_covers_valid_rejected_and_idn_inputs():
    assert sum(case.href is not None for case in SUBSET) > 30
    assert sum(case.href is None for case in SUBSET) > 30
    assert any(case.href == "https://xn--fa-hia.example/" for case in SUBSET)


def test_a_tap_goes_exactly_where_the_url_standard_says_or_the_link_is_refused_for_a_documented_reason(product):
    admin, phone = product
    outcomes = [judge(case, *tap(admin, phone, case), POLICY_REASONS) for case in SUBSET]
    assert [(o.case.input, o.detail) for o in outcomes if o.verdict == "wrong"] == []
    faß = next(o for o in outcomes if o.case.input.startswith("https://faß"))
    assert faß.verdict == "exact" and faß.location and faß.location.startswith("https://xn--fa-hia.example/?")
