"""Open-redirect fuzzing of link creation and of the edge.

A destination is either refused (422) or stored in a canonical form whose redirect goes exactly there:
`Location` is the stored tagged URL plus `sclid`, on the stored scheme and host, absolute http(s), ASCII,
without CR or LF. Paths that are not a code never produce a `Location`, whatever the Host header says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.http_raw import Connection, Reply, get
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge

ATTACKS = [
    # scheme-relative and backslash forms
    "//evil.example", "\\\\evil.example", "/\\evil.example", "\\/evil.example", "https:evil.example",
    "https:/evil.example", "https:\\\\evil.example", "https:/\\evil.example", "http:///evil.example",
    # percent-encoded slashes
    "%2F%2Fevil.example", "https://%2F%2Fevil.example", "https://shop.example%2F%2Fevil.example",
    "https://shop.example/%2F%2Fevil.example", "https%3A%2F%2Fevil.example",
    # other schemes
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "javascript://shop.example/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)",
    "file:///etc/passwd", "ftp://evil.example/", "blob:https://evil.example/x",
    # header injection
    "https://shop.example/\r\nSet-Cookie: x=1", "https://shop.example/%0d%0aSet-Cookie:%20x=1",
    "https://shop.example/%0D%0ALocation:%20https://evil.example", "https://shop.example\r\n.evil.example",
    "https://shop.example/\nLocation: https://evil.example", "https://shop.example/\u2028x", "https://shop.example/\x85x",
    "https://shop.example/#\r\nX: y", "https://shop.example/?a=%E5%98%8A%E5%98%8Dinjected",
    # unicode look-alikes of / \ @ . and hosts
    "https://shop.example\uff0f\uff0fevil.example", "https://shop.example\uff3cevil.example",
    "https://shop.example\u2044evil.example", "https://shop.example\u2215evil.example",
    "https://evil.example\u2044\u2044shop.example", "https:\uff0f\uff0fevil.example", "https:\uff3c\uff3cevil.example",
    "\uff0f\uff0fevil.example", "https://shop\u3002example", "https://shop.example\u3002evil.example",
    "https://\u0430pple.com/", "https://\u0440\u0430\u0443\u0440\u0430l.com/login", "https://\uff45\uff56\uff49\uff4c.example",
    "https://shop.example\uff20evil.example", "https://shop.example\ufe6bevil.example",
    # userinfo tricks
    "https://shop.example@evil.example", "https://shop.example:443@evil.example", "https://user:pass@evil.example",
    "https://evil.example#@shop.example", "https://evil.example?@shop.example", "https://shop.example%40evil.example",
    "https://shop.example%2540evil.example", "https://@evil.example", "https://shop.example\\@evil.example",
    # odd hosts and ports
    "https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://0x7f000001/", "https://2130706433/",
    "https://shop.example:99999/", "https://shop.example:-1/", "https://shop.example:80:80/", "https://shop..example/",
    "https://shop.example\x00.evil.example", "https://shop.example/\t/evil", "https:// evil.example",
    # legitimate destinations that must keep working
    "https://shop.example/?next=//evil.example", "https://shop.example/p?utm_source=evil&sclid=stale#frag",
    "HTTPS://Shop.Example/Caf\u00e9?q=\u00fc#\u00e9", "https://b\u00fccher.example/", "http://shop.example:8080",
]
PIECES = ["https://", "http://", "//", "\\\\", "\\", "/", "javascript:", "data:", "https:", "%2F%2F", "%2f", "%5C",
          "\uff0f\uff0f", "\uff3c", "\u2044", "\u2215", "\u3002", "\uff20", "@", ":", ":443", "#", "?", ".", "%0d%0a",
          "\r\n", "\n", "%00", " ", "evil.example", "shop.example", "\u0430pple.com", "\u0435vil.example", "user:pw",
          "[::1]", "%40", "%2540", "\u202e", "\u200b"]
destinations = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), min_size=1, max_size=8).map("".join)


@dataclass
class Servers:
    admin: httpx.Client
    edge_port: int

    def redirect(self, code: str, host: str = "go.shop.example") -> Reply:
        async def once() -> Reply:
            connection = Connection(self.edge_port)
            try:
                return await connection.request(get(f"/{code}", host=host))
            finally:
                connection.close()

        return asyncio.run(once())


@pytest.fixture
def servers(redis_url: str) -> Iterator[Servers]:
    tracker_settings = make_settings(redis_url)
    with serve_in_thread(Admin(tracker_settings).app) as admin_url, \
            serve_in_thread(Edge(tracker_settings)) as edge_url, \
            httpx.Client(base_url=admin_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30) as admin:
        yield Servers(admin, int(edge_url.rsplit(":", 1)[1]))


def safe_url_problems(url: str) -> list[str]:
    problems = []
    if not url.isascii():
        problems.append("not ASCII")
    if any(c in url for c in "\r\n\t \\") or any(ord(c) < 32 or ord(c) == 127 for c in url):
        problems.append("white space, control character or backslash")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not url.startswith(parts.scheme + "://"):
        problems.append("not an absolute http(s) URL")
    if not parts.netloc or "@" in parts.netloc or "%" in parts.netloc:
        problems.append("no plain host")
    return problems


def check_destination(servers: Servers, raw: str) -> str:
    """Create a link to `raw`; returns 'refused' or 'stored', failing on anything unsafe."""
    body = {"destination": raw, "utm": {"source": "fuzz"}}
    try:
        reply = servers.admin.post("/v1/links", json=body)
    except (httpx.RemoteProtocolError, httpx.ReadError):  # the keep-alive connection a previous 500 closed
        reply = servers.admin.post("/v1/links", json=body)
    assert reply.status_code in (201, 422), f"{raw!r}: {reply.status_code} {reply.text[:100]}"
    if reply.status_code == 422:
        assert reply.json()["error"].startswith("destination"), reply.text
        return "refused"
    link: dict[str, Any] = reply.json()
    stored, tagged = link["destination"], link["tagged_url"]
    assert safe_url_problems(stored) == [], (raw, stored, safe_url_problems(stored))
    redirect = servers.redirect(link["code"])
    location = redirect.header("location") or ""
    base, hash_mark, fragment = tagged.partition("#")
    expected = f"{base}{'&' if '?' in base else '?'}sclid={redirect.click_id}{hash_mark}{fragment}"
    assert redirect.status == 302 and location == expected, (raw, stored, location)
    assert safe_url_problems(location) == [], (raw, location)
    assert (urlsplit(location).scheme, urlsplit(location).netloc) == (urlsplit(stored).scheme, urlsplit(stored).netloc)
    assert tagged.partition("?")[0].partition("#")[0] == stored.partition("?")[0].partition("#")[0]
    return "stored"


def test_known_open_redirect_tricks_are_refused_or_redirect_exactly_to_the_stored_host(servers: Servers) -> None:
    outcomes: dict[str, str] = {}
    for raw in ATTACKS:
        try:
            outcomes[raw] = check_destination(servers, raw)
        except AssertionError as exc:
            outcomes[raw] = f"FAILED: {str(exc).splitlines()[0]}"
    stored = [ascii(raw) for raw, outcome in outcomes.items() if outcome == "stored"]
    failed = [outcome for outcome in outcomes.values() if outcome.startswith("FAILED")]
    print(f"\n[open redirect, curated] {len(ATTACKS)} destinations: "
          f"{sum(1 for o in outcomes.values() if o == 'refused')} refused (422), {len(stored)} stored and redirected "
          f"to their own host: {stored}; failures: {failed}")
    assert failed == []
    for raw in ("//evil.example", "\\\\evil.example", "javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
                "https://shop.example@evil.example", "https://shop.example/\r\nSet-Cookie: x=1",
                "https://shop.example\uff0f\uff0fevil.example", "\uff0f\uff0fevil.example"):
        assert outcomes[raw] == "refused", raw


def test_patching_a_destination_to_a_lookalike_is_refused_with_422_not_a_500(servers: Servers) -> None:
    code = servers.admin.post("/v1/links", json={"destination": "https://shop.example/"}).json()["code"]
    statuses = {}
    for raw in ("https://shop.example\uff0f\uff0fevil.example", "https://shop.example\uff20evil.example",
                "//evil.example", "javascript:alert(1)"):
        try:
            reply = servers.admin.patch(f"/v1/links/{code}", json={"destination": raw})
        except (httpx.RemoteProtocolError, httpx.ReadError):  # the keep-alive connection a previous 500 closed
            reply = servers.admin.patch(f"/v1/links/{code}", json={"destination": raw})
        statuses[ascii(raw)] = reply.status_code
    stored = servers.admin.get(f"/v1/links/{code}").json()["destination"]
    print(f"\n[open redirect, PATCH] {statuses}; destination afterwards {stored}")
    assert stored == "https://shop.example/"
    assert set(statuses.values()) == {422}


def test_generated_destinations_around_those_tricks_never_redirect_anywhere_unsafe(servers: Servers) -> None:
    seen = {"refused": 0, "stored": 0}

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(raw=destinations)
    def check(raw: str) -> None:
        seen[check_destination(servers, raw)] += 1

    check()
    print(f"\n[open redirect, generated] {seen}")
    assert seen["refused"] > 0


EDGE_PATHS = [
    "/%2F%2Fevil.com", "//evil.com", "/\\evil.com", "/\\\\evil.com", "/%5C%5Cevil.com", "/%2f%2fevil.com/",
    "///evil.com",    "/.//evil.com", "/%09/evil.com", "/https:%2F%2Fevil.com", "/https://evil.com", "/%0d%0aLocation:%20https://evil.com",
    "/evil.com%2F..", "/%E2%81%84%E2%81%84evil.com", "/%EF%BC%8F%EF%BC%8Fevil.com", "/%E2%88%95evil.com", "/@evil.com",
    "/..%2F..%2Fevil.com", "//evil.com/%2e%2e", "//evil.com/healthz/", "/healthz/", "/readyz/", "/metrics/", "/t.js/",
    "/px.gif/", "/robots.txt/", "/favicon.ico/", "/", "/abcdefgh/", "/abcdefgh//evil.com",
]


def test_edge_paths_that_are_not_codes_never_produce_a_location_whatever_the_host_header(servers: Servers) -> None:
    offenders = []

    async def probe() -> None:
        connection = Connection(servers.edge_port)
        try:
            for path in EDGE_PATHS:
                for host in ("go.shop.example", "evil.example"):
                    reply = await connection.request(get(path, host=host))
                    if reply.header("location") is not None or 300 <= reply.status < 400:
                        offenders.append(f"{path} (Host: {host}) -> {reply.status} {reply.header('location')}")
        finally:
            connection.close()

    asyncio.run(probe())
    print(f"\n[edge paths] {len(EDGE_PATHS) * 2} probes, {len(offenders)} with a Location: {offenders}")
    assert offenders == []
