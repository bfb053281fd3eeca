from decimal import Decimal

import pytest

from tests.stores.platforms import sample, woocommerce_body, woocommerce_ping
from tracker.stores import woocommerce
from tracker.stores.payload import Unused, decode_json


def order(**changes: object) -> dict:
    payload = sample("woocommerce_order.json")
    payload.update(changes)
    return payload


def read(topic: str, payload: object) -> list[woocommerce.StoreConversion]:
    return woocommerce.conversions(topic, decode_json(woocommerce_body(payload)), "sclid")


def test_the_documented_processing_order_is_a_purchase() -> None:
    [purchase] = read("order.created", order())
    assert (purchase.order_id, purchase.type) == ("727", "purchase")
    assert (purchase.value, purchase.currency) == (Decimal("29.35"), "USD")
    assert purchase.ts_ms == 1490210888000  # date_paid_gmt 2017-03-22T19:28:08
    assert purchase.recipients == ("(555) 555-5555", "john.doe@example.com")
    assert purchase.region == "US"
    assert purchase.click_id == ""


def test_the_click_id_comes_from_meta_data() -> None:
    meta = [{"id": 13106, "key": "_download_permissions_granted", "value": "yes"}, {"id": 1, "key": "sclid",
                                                                                   "value": "Zq9_x"}]
    [purchase] = read("order.updated", order(meta_data=meta))
    assert purchase.click_id == "Zq9_x"
    [hidden] = read("order.updated", order(meta_data=[{"id": 2, "key": "_sclid", "value": "Hid_1"}]))
    assert hidden.click_id == "Hid_1"


def test_unpaid_orders_are_unused() -> None:
    for status in ("pending", "on-hold", "failed", "cancelled", "checkout-draft"):
        with pytest.raises(Unused) as caught:
            read("order.updated", order(status=status))
        assert caught.value.reason == "not_paid"


def test_refunds_arrive_as_order_updated_each_with_its_own_id() -> None:
    refunds = [{"id": 730, "reason": "", "total": "-5.00"}, {"id": 731, "reason": "damaged", "total": "-2.35"}]
    purchase, first, second = read("order.updated", order(status="completed", refunds=refunds))
    assert purchase.type == "purchase"
    assert [(r.type, r.refund_id, r.value) for r in (first, second)] == [
        ("refund", "730", Decimal("5.00")), ("refund", "731", Decimal("2.35"))
    ]
    assert first.ts_ms == 1490210888000  # the order's date_modified_gmt


def test_a_refunded_order_refunds_what_its_entries_leave() -> None:
    refunds = [{"id": 730, "reason": "", "total": "-5.00"}]
    first, rest = read("order.updated", order(status="refunded", refunds=refunds))
    assert (first.refund_id, first.value) == ("730", Decimal("5.00"))
    assert (rest.refund_id, rest.value) == (woocommerce.REFUNDED_REST_ID, Decimal("24.35"))
    [only] = read("order.updated", order(status="refunded", refunds=[{"id": 732, "total": "-29.35"}]))
    assert (only.refund_id, only.value) == ("732", Decimal("29.35"))


def test_other_topics_are_unused() -> None:
    for topic in ("order.deleted", "product.updated", "action.woocommerce_add_to_cart", ""):
        with pytest.raises(Unused) as caught:
            read(topic, order())
        assert caught.value.reason == "topic"


def test_the_creation_ping_is_recognised() -> None:
    body, _ = woocommerce_ping(17)
    assert woocommerce.is_ping(body)
    for other in (b"webhook_id=", b"webhook_id=1&x=2", b'{"webhook_id":1}', b""):
        assert not woocommerce.is_ping(other)
