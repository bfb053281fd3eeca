"""`/hooks/shopify` and `/hooks/woocommerce` over real HTTP against a real redis-server, with deliveries shaped
like the platforms' documented samples and signed the way the platforms sign them."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from tests.stores.platforms import (
    hmac_base64,
    sample,
    shopify_body,
    shopify_headers,
    woocommerce_body,
    woocommerce_headers,
    woocommerce_ping,
)
from tests.support.servers import serve_in_thread
from tests.support.settings import make_settings
from tracker.edge.app import Edge
from tracker.events.streams import stream_names
from tracker.stores.webhook_signature import sign

SHOPIFY_SECRET = "shpss_0123456789abcdef0123456789abcdef"
WOO_SECRET = "wc-secret: Z&b8*Qk!vT3m^P0s"
ORDER_ID = "820982911946154508"
KEYED = {"TRACKER_SHOPIFY_SECRET": SHOPIFY_SECRET, "TRACKER_WOOCOMMERCE_SECRET": WOO_SECRET}
# The platforms wait seconds for an answer; ours must come within 1 s (a deadline, not a measurement).
DEADLINE = httpx.Timeout(1.0)


@pytest.fixture
def edge(redis_url: str) -> Iterator[httpx.Client]:
    with serve_in_thread(Edge(make_settings(redis_url, **KEYED))) as base, \
            httpx.Client(base_url=base, timeout=DEADLINE) as client:
        yield client


def events(sync_redis: Any) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"e"]) for _, f in sync_redis.xrange(stream_names(1)[0])]


def paid_order(**changes: Any) -> dict[str, Any]:
    order = sample("shopify_orders_paid.json")
    order.update({"test": False, "financial_status": "paid", "cancelled_at": None, "cancel_reason": None,
                  "note_attributes": [{"name": "sclid", "value": "click_A"}], "phone": "+14155550123"})
    order.update(changes)
    return order


def shopify(edge: httpx.Client, topic: str, payload: Any, **headers: Any) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else shopify_body(payload)
    sent = shopify_headers(topic, body, headers.pop("secret", SHOPIFY_SECRET), **headers)
    return edge.post("/hooks/shopify", content=body, headers=sent)


def woo(edge: httpx.Client, topic: str, payload: Any, secret: str = WOO_SECRET) -> httpx.Response:
    body = woocommerce_body(payload)
    return edge.post("/hooks/woocommerce", content=body, headers=woocommerce_headers(topic, body, secret))


# --- Shopify ---------------------------------------------------------------------------------------------------


def test_orders_paid_records_the_purchase_with_its_exact_order_id_click_and_buyer(edge, sync_redis):
    reply = shopify(edge, "orders/paid", paid_order())
    assert reply.status_code == 200
    assert reply.json() == {"accepted": 1, "duplicates": 0, "conflicts": 0}
    [event] = events(sync_redis)
    assert (event["order_id"], event["type"], event["value"], event["currency"]) == (
        ORDER_ID, "purchase", "388.00", "USD")
    assert (event["source"], event["verified"], event["click_id"]) == ("shopify", True, "click_A")
    assert event["ts"] == 1640995200000  # processed_at 2021-12-31T19:00:00-05:00
    assert event["recipient_ref"] and "4155550123" not in orjson.dumps(event).decode()


def test_an_order_id_beyond_64_bits_stays_exact(edge, sync_redis):
    body = shopify_body(paid_order()).replace(ORDER_ID.encode(), b"123456789012345678901234567890", 1)
    assert shopify(edge, "orders/paid", body).json()["accepted"] == 1
    assert events(sync_redis)[0]["order_id"] == "123456789012345678901234567890"


def test_each_order_counts_once_however_often_it_is_delivered(edge, sync_redis):
    order = paid_order()
    first = shopify(edge, "orders/paid", order, event_id="ev-1", webhook_id="wh-1")
    assert first.json()["accepted"] == 1
    # A retry of the same delivery, and the same event through a second subscription.
    assert shopify(edge, "orders/paid", order, event_id="ev-1", webhook_id="wh-1").json()["redelivered"] is True
    assert shopify(edge, "orders/paid", order, event_id="ev-1", webhook_id="wh-2").json()["redelivered"] is True
    # A later event about the same order (an app re-sending it): the conversion itself is a duplicate.
    assert shopify(edge, "orders/paid", order, event_id="ev-2").json() == {
        "accepted": 0, "duplicates": 1, "conflicts": 0}
    assert len(events(sync_redis)) == 1


def test_the_webhook_id_deduplicates_when_there_is_no_event_id(edge, sync_redis):
    body = shopify_body(paid_order())
    headers = {k: v for k, v in shopify_headers("orders/paid", body, SHOPIFY_SECRET, webhook_id="wh-9").items()
               if k != "x-shopify-event-id"}
    assert edge.post("/hooks/shopify", content=body, headers=headers).json()["accepted"] == 1
    assert edge.post("/hooks/shopify", content=body, headers=headers).json()["redelivered"] is True


def test_the_same_order_paid_with_another_total_is_a_conflict_and_changes_nothing(edge, sync_redis):
    shopify(edge, "orders/paid", paid_order())
    reply = shopify(edge, "orders/paid", paid_order(total_price="400.00"))
    assert reply.status_code == 200 and reply.json()["conflicts"] == 1
    assert [e["value"] for e in events(sync_redis)] == ["388.00"]


@pytest.mark.parametrize(
    "forge",
    [
        lambda body, h: {**h, "x-shopify-hmac-sha256": hmac_base64("a-guessed-secret-0000", body)},
        lambda body, h: {**h, "x-shopify-hmac-sha256": sign(SHOPIFY_SECRET, body + b" ")},
        lambda body, h: {**h, "x-shopify-hmac-sha256": sign(SHOPIFY_SECRET, body)[:-4] + "AAA="},
        lambda body, h: {**h, "x-shopify-hmac-sha256": bytes.fromhex("00" * 32).hex()},
        lambda body, h: {k: v for k, v in h.items() if k != "x-shopify-hmac-sha256"},
        lambda body, h: {**h, "x-shopify-hmac-sha256": ""},
    ],
)
def test_a_forged_or_unsigned_delivery_gets_401_and_records_nothing(edge, sync_redis, forge):
    body = shopify_body(paid_order())
    reply = edge.post("/hooks/shopify", content=body, headers=forge(body, shopify_headers("orders/paid", body,
                                                                                         SHOPIFY_SECRET)))
    assert reply.status_code == 401 and "X-Shopify-Hmac-Sha256" in reply.json()["error"]
    assert events(sync_redis) == []


def test_the_documented_sample_is_a_test_order_answered_200_and_not_recorded(edge, sync_redis):
    reply = shopify(edge, "orders/paid", sample("shopify_orders_paid.json"))
    assert (reply.status_code, reply.json()) == (200, {"ignored": "test"})
    assert events(sync_redis) == []


def test_topics_and_bodies_we_do_not_use_are_answered_200(edge, sync_redis):
    assert shopify(edge, "orders/create", paid_order()).json() == {"ignored": "topic"}
    assert shopify(edge, "customers/redact", {"shop_id": 954889, "customer": {"id": 191167}}).json() == {
        "ignored": "topic"}
    assert shopify(edge, "orders/paid", b"not json at all").json() == {"ignored": "not_json"}
    assert shopify(edge, "orders/paid", paid_order(currency="XYZ")).json() == {"accepted": 0, "duplicates": 0,
                                                                             "conflicts": 0}
    assert events(sync_redis) == []


def test_each_refund_counts_once_and_partial_refunds_add_up(edge, sync_redis):
    shopify(edge, "orders/paid", paid_order())
    first = sample("shopify_refunds_create.json")
    second = sample("shopify_refunds_create.json")
    second["id"] = 890088186047892320
    second["transactions"][0].update(id=1072844690, amount="50.00")
    for refund in (first, first, second):
        assert shopify(edge, "refunds/create", refund).status_code == 200
    refunds = [(e["refund_id"], e["value"]) for e in events(sync_redis) if e["type"] == "refund"]
    assert refunds == [("890088186047892319", "199.00"), ("890088186047892320", "50.00")]


def test_a_cancellation_refunds_the_rest_and_agrees_with_the_refunds_it_lists(edge, sync_redis):
    shopify(edge, "orders/paid", paid_order())
    refund = sample("shopify_refunds_create.json")
    shopify(edge, "refunds/create", refund)
    cancelled = paid_order(financial_status="refunded", cancelled_at="2022-01-02T10:00:00Z", refunds=[refund])
    assert shopify(edge, "orders/cancelled", cancelled).json() == {"accepted": 1, "duplicates": 1, "conflicts": 0}
    refunds = {e["refund_id"]: Decimal(e["value"]) for e in events(sync_redis) if e["type"] == "refund"}
    assert refunds == {"890088186047892319": Decimal("199.00"), "cancel": Decimal("189.00")}
    assert sum(refunds.values()) == Decimal("388.00")


# --- WooCommerce -----------------------------------------------------------------------------------------------


def woo_order(**changes: Any) -> dict[str, Any]:
    order = sample("woocommerce_order.json")
    order["meta_data"].append({"id": 13107, "key": "sclid", "value": "click_W"})
    order.update(changes)
    return order


def test_the_creation_ping_gets_200_unsigned_and_records_nothing(edge, sync_redis):
    body, headers = woocommerce_ping(17)
    reply = edge.post("/hooks/woocommerce", content=body, headers=headers)
    assert reply.status_code == 200
    assert events(sync_redis) == []


def test_a_processing_order_is_a_purchase_once_whatever_its_delivery_id(edge, sync_redis):
    for topic in ("order.created", "order.updated", "order.updated"):
        assert woo(edge, topic, woo_order()).status_code == 200
    [event] = events(sync_redis)
    assert (event["order_id"], event["value"], event["currency"], event["source"]) == (
        "727", "29.35", "USD", "woocommerce")
    assert event["click_id"] == "click_W" and event["recipient_ref"]


def test_refunds_arrive_as_order_updated(edge, sync_redis):
    woo(edge, "order.created", woo_order())
    refunds = [{"id": 730, "reason": "", "total": "-5.00"}]
    woo(edge, "order.updated", woo_order(refunds=refunds))
    woo(edge, "order.updated", woo_order(status="refunded", refunds=[*refunds, {"id": 731, "total": "-24.35"}]))
    assert [(e["type"], e["refund_id"], e["value"]) for e in events(sync_redis)] == [
        ("purchase", "", "29.35"), ("refund", "730", "5.00"), ("refund", "731", "24.35")]


def test_woocommerce_forgeries_get_401_and_unpaid_orders_200(edge, sync_redis):
    assert woo(edge, "order.created", woo_order(), secret="not-the-shop-secret").status_code == 401
    body = woocommerce_body(woo_order())
    headers = {k: v for k, v in woocommerce_headers("order.created", body, WOO_SECRET).items()
               if k != "x-wc-webhook-signature"}
    assert edge.post("/hooks/woocommerce", content=body, headers=headers).status_code == 401
    # A ping is only a ping: a body that merely starts like one is verified like any other.
    assert edge.post("/hooks/woocommerce", content=b"webhook_id=1&total=5",
                     headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 401
    assert woo(edge, "order.created", woo_order(status="pending")).json() == {"ignored": "not_paid"}
    assert events(sync_redis) == []


# --- both ------------------------------------------------------------------------------------------------------


def test_a_hook_whose_secret_is_unset_is_an_unknown_path(redis_url):
    with serve_in_thread(Edge(make_settings(redis_url))) as base, httpx.Client(base_url=base) as client:
        unknown = client.post("/hooks/nothing-here")
        for path in ("/hooks/shopify", "/hooks/woocommerce"):
            reply = client.post(path, content=b"{}")
            assert reply.status_code == 404
            assert reply.content == unknown.content


def test_a_body_over_the_limit_is_refused_with_413(edge, sync_redis):
    reply = edge.post("/hooks/shopify", content=b"x" * (8 * 1024 * 1024 + 1), timeout=30)
    assert reply.status_code == 413

