"""`/px.gif` and `/t.js` on the edge, over real HTTP against a real redis-server."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import orjson
import pytest

from tests.support.servers import serve_in_thread
from tests.support.settings import SECRET, make_settings
from tracker.conversion import CONVERSION_TYPES, Conversion
from tracker.edge.app import Edge
from tracker.edge.pixel import TRANSPARENT_GIF
from tracker.events.streams import stream_names


def sign(order_id: str, value: str, currency: str, type_: str) -> str:
    message = f"{order_id}|{value}|{currency}|{type_}".encode()
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


def events(sync_redis) -> list[dict]:
    return [orjson.loads(f[b"e"]) for _, f in sync_redis.xrange(stream_names(1)[0])]


@pytest.fixture
def edge_for(redis_url):
    servers = []

    def start(signing: str) -> httpx.Client:
        context = serve_in_thread(Edge(make_settings(redis_url, TRACKER_PIXEL_SIGNING=signing)))
        base = context.__enter__()
        servers.append(context)
        return httpx.Client(base_url=base)

    yield start
    for context in servers:
        context.__exit__(None, None, None)


def test_pixel_answers_the_43_byte_gif_and_records_the_conversion_with_the_query_click_id(edge_for, sync_redis):
    edge = edge_for("optional")
    reply = edge.get("/px.gif", params={"order_id": "1001", "value": "49.90", "currency": "EUR", "type": "purchase",
                                        "sclid": "click_A"})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/gif"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.content == TRANSPARENT_GIF and len(reply.content) == 43
    [event] = events(sync_redis)
    assert (event["order_id"], event["click_id"], event["source"], event["verified"]) == (
        "1001", "click_A", "pixel", False)


def test_click_id_comes_from_the_cookie_when_not_in_the_query(edge_for, sync_redis):
    edge = edge_for("optional")
    edge.cookies.set("sclid", "from_cookie")
    edge.get("/px.gif", params={"order_id": "1", "value": "5", "currency": "USD"})
    assert events(sync_redis)[0]["click_id"] == "from_cookie"


def test_thank_you_page_reloads_record_the_order_once(edge_for, sync_redis):
    edge = edge_for("optional")
    params = {"order_id": "77", "value": "20", "currency": "GBP", "type": "purchase"}
    for _ in range(100):
        assert edge.get("/px.gif", params=params).status_code == 200
    assert len(events(sync_redis)) == 1


def test_a_pixel_with_another_amount_for_a_recorded_order_changes_nothing_and_says_conflict(edge_for, sync_redis):
    edge = edge_for("optional")
    params = {"order_id": "78", "value": "20", "currency": "GBP", "type": "purchase"}
    assert "x-tracker-error" not in edge.get("/px.gif", params=params).headers
    reply = edge.get("/px.gif", params={**params, "value": "2000"})
    assert reply.status_code == 200 and reply.content == TRANSPARENT_GIF
    assert reply.headers["x-tracker-error"] == "conflict"
    assert [event["value"] for event in events(sync_redis)] == ["20"]


def test_signed_pixel_is_verified_and_required_signing_refuses_unsigned_or_tampered(edge_for, sync_redis):
    edge = edge_for("required")
    params = {"order_id": "9", "value": "12.50", "currency": "EUR", "type": "purchase"}
    unsigned = edge.get("/px.gif", params=params)
    assert unsigned.status_code == 400 and unsigned.headers["x-tracker-error"] == "signature_required"
    tampered = edge.get("/px.gif", params={**params, "value": "1250.00", "sig": sign(**{
        "order_id": "9", "value": "12.50", "currency": "EUR", "type_": "purchase"})})
    assert tampered.status_code == 400 and tampered.headers["x-tracker-error"] == "bad_signature"
    assert events(sync_redis) == []
    good = edge.get("/px.gif", params={**params, "sig": sign("9", "12.50", "EUR", "purchase")})
    assert good.status_code == 200
    assert events(sync_redis)[0]["verified"] is True


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"order_id": "1", "value": "-5", "currency": "EUR"}, "bad_value"),
        ({"order_id": "1", "value": "abc", "currency": "EUR"}, "bad_value"),
        ({"order_id": "1", "value": "5", "currency": "ZZZ"}, "bad_currency"),
        ({"order_id": "1", "value": "5", "currency": "EUR", "type": "gift"}, "bad_type"),
        ({"value": "5", "currency": "EUR"}, "missing_order_id"),
        ({"order_id": "x" * 300, "value": "5", "currency": "EUR"}, "field_too_long"),
        ({"order_id": "1", "value": "5", "currency": "EUR", "sclid": "bad id!"}, "bad_click_id"),
        ({f"p{i}": "1" for i in range(30)} | {"order_id": "1"}, "field_too_long"),
    ],
)
def test_invalid_pixels_get_400_with_a_reason_and_record_nothing(edge_for, sync_redis, params, reason):
    reply = edge_for("optional").get("/px.gif", params=params)
    assert reply.status_code == 400
    assert reply.headers["x-tracker-error"] == reason
    assert events(sync_redis) == []


@pytest.mark.parametrize("type_", ["subscription", "renewal"])
def test_a_subscription_pixel_without_its_subscription_id_gets_400_and_records_nothing(edge_for, sync_redis, type_):
    reply = edge_for("optional").get("/px.gif", params={
        "order_id": "S-1", "value": "9.99", "currency": "EUR", "type": type_})
    assert reply.status_code == 400
    assert reply.headers["x-tracker-error"] == "missing_subscription_id"
    assert events(sync_redis) == []


def test_every_pixel_answered_200_is_an_event_the_loader_accepts(edge_for, sync_redis):
    edge = edge_for("optional")
    for type_ in CONVERSION_TYPES:
        reply = edge.get("/px.gif", params={
            "order_id": f"P-{type_}", "value": "9.99", "currency": "EUR", "type": type_, "subscription_id": "sub-7"})
        assert reply.status_code == 200, (type_, reply.headers.get("x-tracker-error"))
    loaded = [Conversion.from_event(event) for event in events(sync_redis)]
    assert sorted(c.type for c in loaded) == sorted(CONVERSION_TYPES)
    assert {c.type: c.subscription_id for c in loaded}["renewal"] == "sub-7"


def test_storefront_script_is_served_with_its_settings_and_a_content_hash(edge_for):
    edge = edge_for("optional")
    script = edge.get("/t.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert "__CLICK_PARAM__" not in script.text and "__MAX_AGE__" not in script.text
    assert "'sclid'" in script.text and "604800" in script.text
    version = script.headers["x-content-version"]
    pinned = edge.get("/t.js", params={"v": version})
    assert "immutable" in pinned.headers["cache-control"] and "max-age=31536000" in pinned.headers["cache-control"]
    assert edge.get("/t.js", headers={"if-none-match": script.headers["etag"]}).status_code == 304


def test_head_of_the_pixel_answers_the_gifs_headers_and_records_nothing(edge_for, sync_redis):
    edge = edge_for("optional")
    order = {"order_id": "head-1", "value": "19.90", "currency": "EUR", "type": "purchase", "sclid": "click_H"}
    get = edge.get("/px.gif", params={**order, "order_id": "get-1"})
    head = edge.head("/px.gif", params=order)
    assert head.status_code == 200 and head.content == b""
    for name in ("content-type", "content-length", "cache-control"):
        assert head.headers[name] == get.headers[name], name
    assert head.headers["content-length"] == "43"
    # Nothing recorded, not even the de-duplication key: the GET of the same order afterwards is a new order.
    assert [e["order_id"] for e in events(sync_redis)] == ["get-1"]
    keys_after_head = set(sync_redis.keys())
    assert edge.get("/px.gif", params=order).status_code == 200
    assert [e["order_id"] for e in events(sync_redis)] == ["get-1", "head-1"]
    assert len(set(sync_redis.keys()) - keys_after_head) == 1  # the GET's de-duplication key, not the HEAD's


def test_head_of_the_pixel_is_200_even_for_input_a_get_would_refuse(edge_for, sync_redis):
    edge = edge_for("required")
    reply = edge.head("/px.gif", params={"order_id": "x", "value": "-1", "currency": "XXX"})
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/gif"
    assert "x-tracker-error" not in reply.headers
    assert events(sync_redis) == []
