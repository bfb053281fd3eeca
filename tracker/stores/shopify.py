"""Shopify order webhooks -> conversions (SPEC section 5).

Topics: `orders/paid` is the purchase (`orders/create` fires before payment, so it is not revenue);
`refunds/create` a refund of the money its refund transactions returned; `orders/cancelled` a refund of
what is left of a paid order. Every other topic is answered and ignored. Test orders are not revenue.

One refund of an order is told from another by the refund's own id, so two partial refunds both count and a
redelivered one counts once. A cancellation records the refunds its payload lists under those same ids (so
whichever of `refunds/create` and `orders/cancelled` arrives first, each refund counts once) plus the rest
of the total under the id 'cancel'.
"""

from __future__ import annotations

from decimal import Decimal

from tracker.stores.payload import (
    StoreConversion,
    Unused,
    attribute,
    candidates,
    click_id,
    click_id_in_url,
    country,
    currency,
    field,
    identifier,
    money,
    text,
    timestamp_ms,
)

PAID = "orders/paid"
REFUND_CREATED = "refunds/create"
CANCELLED = "orders/cancelled"
TOPICS: tuple[str, ...] = (PAID, REFUND_CREATED, CANCELLED)
CANCEL_REFUND_ID = "cancel"
# A cancelled order whose payment was never captured returned no money: nothing to refund.
_UNPAID = frozenset({"pending", "authorized", "voided", "expired"})


def conversions(topic: str, payload: object, click_param: str) -> list[StoreConversion]:
    """The conversions a verified delivery of `topic` carries; raises `Unused` for one we do not record."""
    if not isinstance(payload, dict):
        raise Unused("not_an_object")
    if topic == PAID:
        return [_purchase(payload, click_param)]
    if topic == REFUND_CREATED:
        return [_refund(payload, identifier(payload.get("order_id")))]
    if topic == CANCELLED:
        return _cancellation(payload)
    raise Unused("topic")


def _order_id(order: dict[str, object]) -> str:
    order_id = identifier(order.get("id"))
    if not order_id:
        raise Unused("no_order_id")
    if order.get("test") is True:
        raise Unused("test")
    return order_id


def _purchase(order: dict[str, object], click_param: str) -> StoreConversion:
    order_id = _order_id(order)
    value = money(order.get("total_price"))
    code = currency(order.get("currency"))
    if value is None or value < 0 or not code:
        raise Unused("no_amount")
    # Cart attributes written by /t.js become the order's note_attributes; the landing URL is the fallback
    # for a buyer whose cart was created before the script ran.
    clicked = click_id(attribute(order.get("note_attributes"), (click_param,))) or click_id_in_url(
        order.get("landing_site"), click_param
    )
    return StoreConversion(
        order_id=order_id,
        type="purchase",
        value=value,
        currency=code,
        ts_ms=timestamp_ms(order.get("processed_at")) or timestamp_ms(order.get("created_at")),
        click_id=clicked,
        recipients=candidates(
            order.get("phone"),
            field(order, "customer", "phone"),
            field(order, "billing_address", "phone"),
            order.get("email"),
            field(order, "customer", "email"),
        ),
        region=country(
            field(order, "billing_address", "country_code"),
            field(order, "shipping_address", "country_code"),
            field(order, "customer", "default_address", "country_code"),
        ),
    )


def _refunded(refund: dict[str, object]) -> tuple[Decimal, str] | None:
    """The money a refund's transactions returned and its currency; None when none did."""
    transactions = refund.get("transactions")
    if not isinstance(transactions, list):
        return None
    total, codes = Decimal(0), set()
    for transaction in transactions:
        if not isinstance(transaction, dict) or transaction.get("kind") != "refund":
            continue
        if transaction.get("test") is True:
            raise Unused("test")
        amount = money(transaction.get("amount"))
        if transaction.get("status") != "success" or amount is None or amount <= 0:
            continue  # pending, failed or errored refunds returned nothing (yet): Shopify sends a new refund
        total += amount
        codes.add(currency(transaction.get("currency")))
    if not codes:
        return None
    if len(codes) > 1 or "" in codes:
        raise Unused("mixed_currencies")
    return total, codes.pop()


def _refund(refund: dict[str, object], order_id: str) -> StoreConversion:
    refund_id = identifier(refund.get("id"))
    if not order_id or not refund_id:
        raise Unused("no_order_id")
    returned = _refunded(refund)
    if returned is None:
        raise Unused("nothing_refunded")  # a restock or a note: no money moved
    value, code = returned
    return StoreConversion(
        order_id=order_id,
        type="refund",
        value=value,
        currency=code,
        ts_ms=timestamp_ms(refund.get("processed_at")) or timestamp_ms(refund.get("created_at")),
        refund_id=refund_id,
    )


def _cancellation(order: dict[str, object]) -> list[StoreConversion]:
    order_id = _order_id(order)
    if text(order.get("financial_status")) in _UNPAID:
        raise Unused("never_paid")
    total = money(order.get("total_price"))
    code = currency(order.get("currency"))
    if total is None or not code:
        raise Unused("no_amount")
    listed: list[StoreConversion] = []
    refunds = order.get("refunds")
    for refund in refunds if isinstance(refunds, list) else []:
        if isinstance(refund, dict):
            try:
                listed.append(_refund(refund, order_id))
            except Unused as exc:
                if exc.reason == "test":
                    raise
    left = total - sum((r.value for r in listed if r.currency == code), Decimal(0))
    ts_ms = timestamp_ms(order.get("cancelled_at")) or timestamp_ms(order.get("updated_at"))
    if left > 0:
        listed.append(
            StoreConversion(
                order_id=order_id, type="refund", value=left, currency=code, ts_ms=ts_ms, refund_id=CANCEL_REFUND_ID
            )
        )
    if not listed:
        raise Unused("nothing_refunded")
    return listed
