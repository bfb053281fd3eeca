"""Malformed input against the admin API and the pixel over real HTTP: a clear 4xx, never a 500, nothing recorded.

Hypothesis writes the bodies and queries; a handful of deterministic cases cover what it would not reach at
modest example counts (megabyte bodies, 10,000 parameters, 2,000 levels of nesting).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.http_raw import Connection, Reply
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge
from tracker.edge.pixel import TRANSPARENT_GIF
from tracker.events.streams import stream_names

STREAM = stream_names(1)[0]
ADMIN_ERRORS = {400, 401, 404, 409, 413, 422}
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON texts a careless or hostile client sends, several of which are not JSON at all.
RAW_TOKENS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-1", "-0.0", "1e-400", "123456789012345678901234567890",
    "1" * 400, '"\\ud800"', '"\\u0000"', '"\\u202e"', '""', '" "', "null", "true", "[]", "{}", "0x10", "01",
    '"' + "x" * 300 + '"', "[" * 1100 + "]" * 1100, '{"a":' * 200 + "1" + "}" * 200,
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
raw_json = st.sampled_from(RAW_TOKENS) | json_values.map(lambda v: orjson.dumps(v).decode())

LINK_BASE = {"destination": "https://shop.example/p"}
LINK_FIELDS = ["destination", "utm", "channel", "campaign", "message", "tags", "recipient", "expires_at", "bogus"]
CONVERSION_BASE = {"order_id": "fuzz-1", "value": "5", "currency": "EUR"}
CONVERSION_FIELDS = ["order_id", "type", "value", "currency", "click_id", "recipient", "occurred_at", "bogus"]
BATCH_FIELDS = ["template", "recipients", "bogus"]
PATCH_FIELDS = ["disabled", "expires_at", "destination", "code"]


def with_field(base: dict[str, Any], name: str, raw: str) -> bytes:
    """`base` as JSON with `name` set to a raw JSON text (which may not be valid JSON)."""
    rest = {k: v for k, v in base.items() if k != name}
    head = orjson.dumps(rest).decode()[:-1]
    return f'{head}{"," if rest else ""}"{name}":{raw}}}'.encode()


@dataclass
class Servers:
    admin: httpx.Client
    edge: httpx.Client
    edge_port: int
    admin_port: int
    redis: redis.Redis
    code: str

    def state(self) -> tuple[int, int]:
        """What a request that was refused must leave as it was: the event stream and every key."""
        return int(self.redis.xlen(STREAM)), int(self.redis.dbsize())


@pytest.fixture
def servers(redis_url: str, sync_redis: redis.Redis, clickhouse: Any) -> Iterator[Servers]:
    tracker_settings = make_settings(redis_url, TRACKER_PIXEL_SIGNING="optional")
    with serve_in_thread(Admin(tracker_settings, clickhouse=clickhouse).app) as admin_url, \
            serve_in_thread(Edge(tracker_settings)) as edge_url, \
            httpx.Client(base_url=admin_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30) as admin, \
            httpx.Client(base_url=edge_url, timeout=30) as edge:
        code = admin.post("/v1/links", json=LINK_BASE).json()["code"]
        yield Servers(admin, edge, int(edge_url.rsplit(":", 1)[1]), int(admin_url.rsplit(":", 1)[1]), sync_redis,
                      code)


def check_admin(servers: Servers, reply: httpx.Response, before: tuple[int, int]) -> None:
    assert reply.status_code < 500, (reply.status_code, reply.text[:300])
    if reply.status_code >= 400:
        assert reply.status_code in ADMIN_ERRORS, reply.status_code
        assert reply.headers["content-type"].startswith("application/json"), reply.headers
        error = reply.json()
        assert set(error) == {"error"} and isinstance(error["error"], str) and error["error"].strip()
        assert servers.state() == before, "a refused request changed Redis"


def check_pixel(servers: Servers, status: int, headers: dict[str, str], body: bytes, before: tuple[int, int]) -> None:
    assert status in (200, 400), (status, headers, body[:200])
    if status == 200:
        assert body == TRANSPARENT_GIF
    else:
        assert headers.get("x-tracker-error", "").strip(), (headers, body[:200])
        assert servers.state() == before, "a refused pixel changed Redis"


def test_admin_api_answers_generated_garbage_with_a_json_4xx_and_records_nothing(servers: Servers) -> None:
    endpoint_list: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("POST", "/v1/links", LINK_BASE, LINK_FIELDS),
        ("POST", "/v1/links/batch", {"template": LINK_BASE, "recipients": ["+14155550123"]}, BATCH_FIELDS),
        ("PATCH", f"/v1/links/{servers.code}", {"disabled": False}, PATCH_FIELDS),
        ("POST", "/v1/conversions", CONVERSION_BASE, CONVERSION_FIELDS),
    ]
    endpoints = st.sampled_from(endpoint_list)
    bodies = st.one_of(
        st.tuples(endpoints, st.sampled_from(LINK_FIELDS + CONVERSION_FIELDS + BATCH_FIELDS), raw_json).map(
            lambda t: (t[0][0], t[0][1], with_field(t[0][2], t[1], t[2]))),
        st.tuples(endpoints, raw_json).map(lambda t: (t[0][0], t[0][1], t[1].encode())),
        st.tuples(endpoints, st.binary(max_size=200)).map(lambda t: (t[0][0], t[0][1], t[1])),
    )
    seen: dict[int, int] = {}

    @EXAMPLES
    @given(request=bodies)
    def check(request: tuple[str, str, bytes]) -> None:
        method, path, body = request
        before = servers.state()
        reply = servers.admin.request(method, path, content=body, headers={"content-type": "application/json"})
        seen[reply.status_code] = seen.get(reply.status_code, 0) + 1
        check_admin(servers, reply, before)

    check()
    print(f"\n[admin fuzz] statuses {dict(sorted(seen.items()))}")
    assert sum(n for s, n in seen.items() if s >= 400) > 0


def test_admin_api_refuses_huge_non_utf8_nested_and_non_finite_bodies_clearly(servers: Servers) -> None:
    big = b'{"destination": "https://shop.example/' + b"a" * (2 * 1024 * 1024) + b'"}'

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"[" * 250_000  # 10 MB, chunked: no Content-Length to refuse it by

    cases: list[tuple[str, str, Any, int]] = [
        ("POST", "/v1/links", big, 413),
        ("POST", "/v1/links/batch", b'{"recipients": ["' + b"+1415555012" * 500_000 + b'"]}', 413),
        ("POST", "/v1/conversions", b"[" + b'{"order_id": "o", "value": 1},' * 60_000 + b"{}]", 413),
        ("POST", "/v1/conversions", chunks(), 413),
        ("POST", "/v1/links", b'\xff\xfe{"destination": "https://shop.example/\xc3"}', 400),
        ("POST", "/v1/links", '{"destination": "https://shop.example/\udcff"}'.encode("utf-8", "surrogatepass"), 400),
        ("POST", "/v1/conversions", b'{"order_id": "o", "value": NaN, "currency": "EUR"}', 400),
        ("POST", "/v1/conversions", b'{"order_id": "o", "value": Infinity, "currency": "EUR"}', 400),
        ("POST", "/v1/conversions", b'{"order_id": "o", "value": 1e400, "currency": "EUR"}', 400),
        ("POST", "/v1/conversions", b'{"order_id": "o", "value": -1, "currency": "EUR"}', 422),
        ("POST", "/v1/conversions", b'{"order_id": "o", "value": "-0.01", "currency": "EUR"}', 422),
        ("POST", "/v1/conversions", b'{"order_id": "o", "value": 1e300, "currency": "EUR"}', 422),
        ("POST", "/v1/conversions", b'{"order_id": "o", "value": "5", "currency": "EUR", "occurred_at": 1e300}', 422),
        ("POST", "/v1/conversions", b"[" * 2000 + b"]" * 2000, 400),
        ("POST", "/v1/links", b'{"destination": ' + b"[" * 1000 + b"]" * 1000 + b"}", 422),
        ("POST", "/v1/links", b'{"utm": ' + b'{"a":' * 800 + b"1" + b"}" * 800 + b"}", 422),
        ("POST", "/v1/links", b'{"destination": ["https://shop.example/"]}', 422),
        ("POST", "/v1/links", b'{"destination": "https://shop.example/", "tags": "vip"}', 422),
        ("POST", "/v1/links", b'{"destination": "https://shop.example/", "expires_at": 1.5e9}', 422),
        ("POST", "/v1/links/batch", b'{"template": [], "recipients": {}}', 422),
        ("PATCH", f"/v1/links/{servers.code}", b'{"disabled": "false"}', 422),
        ("POST", "/v1/links", b"", 400),
        ("GET", "/v1/reports/campaigns?from=" + "9" * 5000, None, 400),
        ("GET", "/v1/reports/campaigns?window=NaNd&from=-1", None, 400),
    ]
    seen = []
    for method, path, body, expected in cases:
        before = servers.state()
        reply = servers.admin.request(method, path, content=body, headers={"content-type": "application/json"})
        seen.append(reply.status_code)
        check_admin(servers, reply, before)
        assert reply.status_code == expected, (path, body if isinstance(body, bytes | None) else "...",
                                               reply.status_code, reply.text[:200])
    # 10,000 query parameters on a raw socket (past httpx's URL limit): within the HTTP layer's 64 KiB
    # request line the app refuses them with its JSON error; past it, uvicorn does, before the app.
    auth = f"Authorization: Bearer {API_KEY}\r\n".encode()
    fits = raw_get(servers.admin_port, b"/v1/reports/campaigns?" + b"&p=" * 10_000, auth)
    seen.append(fits.status)
    assert fits.status == 400 and orjson.loads(fits.body)["error"], (fits.status, fits.body[:200])
    too_long = raw_get(servers.admin_port, b"/v1/reports/campaigns?" + b"&".join(b"p%d=1" % i for i in range(10_000)),
                       auth)
    seen.append(too_long.status)
    assert (too_long.status, too_long.body) == (400, PROTOCOL.encode())
    print(f"\n[admin edge cases] {len(seen)} requests, statuses {seen}")


def test_pixel_answers_generated_garbage_with_400_and_a_reason_and_records_nothing(servers: Servers) -> None:
    keys = st.sampled_from(["order_id", "value", "currency", "type", "sclid", "sig", "src"]) | st.text(max_size=8)
    values = st.sampled_from(["NaN", "Infinity", "-Infinity", "-1", "-0.01", "1e400", "1e5", "0x10", "1_000",
                              "19.99", "EUR", "eur", "XXX", "purchase", "refund", "bogus", "", " ", "\x00",
                              "\u202e", "\ufffd", "٣", "x" * 300]) | st.text(max_size=30)
    queries = st.dictionaries(keys, values, max_size=8)
    seen: dict[str, int] = {}

    @EXAMPLES
    @given(params=queries, order=st.integers(0, 10**6))
    def check(params: dict[str, str], order: int) -> None:
        params = {"order_id": f"px-{order}", "value": "5", "currency": "EUR", **params}
        before = servers.state()
        reply = servers.edge.get("/px.gif", params=params)
        key = str(reply.status_code) if reply.status_code != 400 else reply.headers.get("x-tracker-error", "?")
        seen[key] = seen.get(key, 0) + 1
        check_pixel(servers, reply.status_code, dict(reply.headers), reply.content, before)

    check()
    print(f"\n[pixel fuzz] outcomes {dict(sorted(seen.items()))}")
    assert sum(n for k, n in seen.items() if k != "200") > 0


# What uvicorn/httptools answer, before any app code runs, to a request line over 64 KiB or with raw
# non-ASCII bytes: not valid HTTP, so neither X-Tracker-Error nor {"error"} can be expected there.
PROTOCOL = "Invalid HTTP request received."


def raw_get(port: int, target: bytes, headers: bytes = b"") -> Reply:
    async def once() -> Reply:
        connection = Connection(port)
        try:
            return await connection.request(b"GET " + target + b" HTTP/1.1\r\nHost: edge.test\r\n" + headers + b"\r\n")
        finally:
            connection.close()

    return asyncio.run(once())


def test_pixel_refuses_non_utf8_huge_and_10000_parameter_queries_with_a_reason(servers: Servers) -> None:
    cases: list[tuple[bytes, str]] = [
        (b"/px.gif?order_id=%ff%fe&value=5&currency=EUR", "bad_order_id"),
        (b"/px.gif?order_id=%c3%28&value=5&currency=EUR", "bad_order_id"),
        (b"/px.gif?order_id=o-\xff\xfe&value=5&currency=EUR", PROTOCOL),
        (b"/px.gif?order_id=o-1&value=5&currency=%ffEUR", "bad_currency"),
        (b"/px.gif?order_id=o-1&value=NaN&currency=EUR", "bad_value"),
        (b"/px.gif?order_id=o-1&value=Infinity&currency=EUR", "bad_value"),
        (b"/px.gif?order_id=o-1&value=-1&currency=EUR", "bad_value"),
        (b"/px.gif?order_id=o-1&value=1e400&currency=EUR", "bad_value"),
        (b"/px.gif?order_id=o-1&value=5&currency=EUR" + b"&a=" * 10_000, "field_too_long"),
        (b"/px.gif?order_id=o-1&value=5&currency=EUR&" + b"&".join(b"p%d=1" % i for i in range(10_000)), PROTOCOL),
        (b"/px.gif?order_id=" + b"9" * 60_000, "field_too_long"),
        (b"/px.gif?order_id=" + b"9" * 1_000_000, PROTOCOL),
        (b"/px.gif?order_id=o-1&order_id=o-2&value=5&currency=EUR", "repeated_parameter"),
    ]
    outcomes = []
    for target, _reason in cases:
        before = servers.state()
        reply = raw_get(servers.edge_port, target)
        headers = dict(reply.headers)
        error = PROTOCOL if reply.body == PROTOCOL.encode() else headers.get("x-tracker-error")
        outcomes.append((target[:60], reply.status, error, servers.state() != before))
    print("\n[pixel edge cases] " + "; ".join(f"{t!r}: {s} {r} recorded={c}" for t, s, r, c in outcomes))
    assert [(status, error) for _, status, error, _ in outcomes] == [(400, reason) for _, reason in cases]
    assert not any(changed for *_, changed in outcomes)
