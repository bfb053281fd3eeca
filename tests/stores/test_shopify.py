from decimal import Decimal

import pytest

from tests.stores.platforms import sample, shopify_body
from tracker.stores import shopify
from tracker.stores.payload import Unused, decode_json

ORDER_ID = "820982911946154508"


def paid_order(**changes: object) -> dict:
    order = sample("shopify_orders_paid.json")
    order.update({"test": False, "financial_status": "paid", "cancelled_at": None, "cancel_reason": None})
    order.update(changes)
    return order


def read(topic: str, payload: object) -> list[shopify.StoreConversion]:
    # Through the bytes, as the hook reads it: the id must survive encoding and decoding exactly.
    return shopify.conversions(topic, decode_json(shopify_body(payload)), "sclid")


def test_the_documented_sample_is_a_test_order_and_records_nothing() -> None:
    with pytest.raises(Unused) as caught:
        read("orders/paid", sample("shopify_orders_paid.json"))
    assert caught.value.reason == "test"


def test_orders_paid_is_a_purchase_of_total_price_in_the_shop_currency() -> None:
    [purchase] = read("orders/paid", paid_order())
    assert purchase.order_id == ORDER_ID
    assert purchase.type == "purchase"
    assert (purchase.value, purchase.currency) == (Decimal("388.00"), "USD")
    assert purchase.ts_ms == 1640995200000  # processed_at, 2021-12-31T19:00:00-05:00
    assert purchase.refund_id == ""


def test_the_click_id_comes_from_the_cart_attributes_else_the_landing_url() -> None:
    attributes = [{"name": "gift_wrap", "value": "yes"}, {"name": "sclid", "value": "k3Jd_9-q"}]
    [both] = read("orders/paid", paid_order(note_attributes=attributes, landing_site="/?sclid=other"))
    assert both.click_id == "k3Jd_9-q"
    [landing] = read("orders/paid", paid_order(landing_site="/products/ipod?utm_source=sms&sclid=fromUrl"))
    assert landing.click_id == "fromUrl"
    [none] = read("orders/paid", paid_order())
    assert none.click_id == ""


def test_recipient_candidates_in_the_specs_order_with_the_address_country() -> None:
    order = paid_order(phone="+447700900123")
    order["customer"]["phone"] = "07700 900456"
    [purchase] = read("orders/paid", order)
    assert purchase.recipients == (
        "+447700900123", "07700 900456", "555-555-SHIP", "jon@example.com", "john@example.com"
    )
    assert purchase.region == "US"


def test_other_topics_are_unused() -> None:
    for topic in ("orders/create", "orders/updated", "app/uninstalled", "", "ORDERS/PAID"):
        with pytest.raises(Unused) as caught:
            read(topic, paid_order())
        assert caught.value.reason == "topic"


def test_a_refund_is_the_sum_of_its_successful_refund_transactions() -> None:
    refund = sample("shopify_refunds_create.json")
    second = dict(refund["transactions"][0], id=1072844686, amount="5.50")
    failed = dict(refund["transactions"][0], id=1072844687, amount="100.00", status="failure")
    capture = dict(refund["transactions"][0], id=1072844688, amount="7.00", kind="capture")
    refund["transactions"] += [second, failed, capture]
    [conversion] = read("refunds/create", refund)
    assert conversion.order_id == ORDER_ID
    assert conversion.type == "refund"
    assert conversion.refund_id == "890088186047892319"
    assert (conversion.value, conversion.currency) == (Decimal("204.50"), "USD")


def test_a_refund_without_money_moved_is_unused() -> None:
    refund = sample("shopify_refunds_create.json")
    refund["transactions"] = []  # as in the documented sample: a restock only
    with pytest.raises(Unused) as caught:
        read("refunds/create", refund)
    assert caught.value.reason == "nothing_refunded"


def test_a_test_refund_is_unused() -> None:
    refund = sample("shopify_refunds_create.json")
    refund["transactions"][0]["test"] = True
    with pytest.raises(Unused) as caught:
        read("refunds/create", refund)
    assert caught.value.reason == "test"


def test_a_cancellation_refunds_what_is_left_and_the_refunds_it_lists() -> None:
    partial = sample("shopify_refunds_create.json")
    partial["transactions"][0]["amount"] = "100.00"
    order = paid_order(financial_status="refunded", cancelled_at="2022-01-02T10:00:00Z", refunds=[partial])
    listed, rest = read("orders/cancelled", order)
    assert (listed.refund_id, listed.value) == ("890088186047892319", Decimal("100.00"))
    assert (rest.refund_id, rest.value, rest.currency) == (shopify.CANCEL_REFUND_ID, Decimal("288.00"), "USD")
    assert rest.ts_ms == 1641117600000


def test_a_cancellation_already_fully_refunded_repeats_only_the_refunds() -> None:
    full = sample("shopify_refunds_create.json")
    full["transactions"][0]["amount"] = "388.00"
    [listed] = read("orders/cancelled", paid_order(financial_status="refunded", refunds=[full]))
    assert listed.refund_id == "890088186047892319"


def test_a_cancelled_order_that_was_never_paid_records_nothing() -> None:
    for status in ("voided", "pending", "authorized"):
        with pytest.raises(Unused) as caught:
            read("orders/cancelled", paid_order(financial_status=status))
        assert caught.value.reason == "never_paid"


@pytest.mark.parametrize(
    "change",
    [{"id": None}, {"id": "abc"}, {"id": 1.5}, {"total_price": None}, {"total_price": "-1"}, {"currency": 12}],
)
def test_orders_missing_what_we_need_are_unused(change: dict) -> None:
    with pytest.raises(Unused):
        read("orders/paid", paid_order(**change))


def test_non_objects_are_unused() -> None:
    for payload in ([], "x", 1, None):
        with pytest.raises(Unused):
            shopify.conversions("orders/paid", payload, "sclid")
