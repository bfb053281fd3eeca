"""WooCommerce order webhooks -> conversions (SPEC section 5).

`order.created` and `order.updated` carry the whole order as the REST API (v3) shows it. A `processing` or
`completed` order is a purchase; each entry of `refunds` is a refund (WooCommerce lists them with a negative
`total`; its refunds arrive as `order.updated`), and a `refunded` order refunds what its entries leave of the
total. WooCommerce's delivery id changes at every attempt, so nothing here depends on it: a purchase is
deduplicated by its order and a refund by its own id.

The creation ping is not JSON: WooCommerce posts the form `webhook_id=N`, unsigned, when a webhook is saved,
and keeps the webhook only if it gets a 200.
"""

from __future__ import annotations

import re
from decimal import Decimal

from tracker.stores.payload import (
    StoreConversion,
    Unused,
    attribute,
    candidates,
    click_id,
    country,
    currency,
    field,
    identifier,
    money,
    text,
    timestamp_ms,
)

TOPICS: tuple[str, ...] = ("order.created", "order.updated")
REFUNDED_REST_ID = "refunded"
_PAID = frozenset({"processing", "completed"})
_PING_RE = re.compile(rb"webhook_id=[0-9]{1,20}")


def is_ping(body: bytes) -> bool:
    """Whether `body` is the creation ping (the form `webhook_id=N`, sent unsigned)."""
    return _PING_RE.fullmatch(body.strip()) is not None


def conversions(topic: str, payload: object, click_param: str) -> list[StoreConversion]:
    """The conversions a verified delivery of `topic` carries; raises `Unused` for one we do not record."""
    if topic not in TOPICS:
        raise Unused("topic")
    if not isinstance(payload, dict):
        raise Unused("not_an_object")
    order_id = identifier(payload.get("id"))
    if not order_id:
        raise Unused("no_order_id")
    total = money(payload.get("total"))
    code = currency(payload.get("currency"))
    if total is None or total < 0 or not code:
        raise Unused("no_amount")
    status = text(payload.get("status"))
    found: list[StoreConversion] = []
    if status in _PAID:
        found.append(_purchase(payload, order_id, total, code, click_param))
    found += _refunds(payload, order_id, total, code, status == "refunded")
    if not found:
        raise Unused("not_paid")  # pending, on-hold, failed, cancelled, draft: no money has moved
    return found


def _purchase(
    order: dict[str, object], order_id: str, total: Decimal, code: str, click_param: str
) -> StoreConversion:
    meta = order.get("meta_data")
    return StoreConversion(
        order_id=order_id,
        type="purchase",
        value=total,
        currency=code,
        ts_ms=timestamp_ms(order.get("date_paid_gmt")) or timestamp_ms(order.get("date_created_gmt")),
        # A hidden meta key (leading '_') is how plugins usually store it; both spellings are the same id.
        click_id=click_id(attribute(meta, (click_param, f"_{click_param}"), key="key")),
        recipients=candidates(field(order, "billing", "phone"), field(order, "billing", "email")),
        region=country(field(order, "billing", "country"), field(order, "shipping", "country")),
    )


def _refunds(
    order: dict[str, object], order_id: str, total: Decimal, code: str, fully_refunded: bool
) -> list[StoreConversion]:
    # Refund entries carry no date of their own: the order's modification time is when we learn of them.
    ts_ms = timestamp_ms(order.get("date_modified_gmt"))
    found: list[StoreConversion] = []
    entries = order.get("refunds")
    for entry in entries if isinstance(entries, list) else []:
        refund_id = identifier(field(entry, "id"))
        amount = money(field(entry, "total"))
        if not refund_id or amount is None or amount == 0:
            continue
        found.append(
            StoreConversion(
                order_id=order_id, type="refund", value=abs(amount), currency=code, ts_ms=ts_ms, refund_id=refund_id
            )
        )
    left = total - sum((r.value for r in found), Decimal(0))
    if fully_refunded and left > 0:
        found.append(
            StoreConversion(
                order_id=order_id, type="refund", value=left, currency=code, ts_ms=ts_ms, refund_id=REFUNDED_REST_ID
            )
        )
    return found
