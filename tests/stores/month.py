"""A generated month of a shop's orders as they reach us: Shopify and WooCommerce webhook deliveries (paid,
refunded, cancelled, test, redelivered, forged), conversions API calls (micro conversions, subscriptions and
renewals), a CSV import of point-of-sale orders, and the clicks they should be credited to.

`Month.truth` is what the generator means to be recorded, one row per conversion, written from its own
knowledge of each order (who bought, what was refunded, when), never from what the tracker stored; the
acceptance test holds ClickHouse and the report to it. Payloads are the documented samples (tests/stores/samples)
with the fields of each order filled in, encoded and signed as each platform does (tests/stores/platforms.py).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shortlinks.recipient import RecipientKeyer
from tests.reports.test_campaign import click
from tests.stores.platforms import (
    sample,
    shopify_body,
    shopify_headers,
    woocommerce_body,
    woocommerce_headers,
    woocommerce_ping,
)
from tests.support.settings import SECRET

SHOPIFY_SECRET = "shpss_month_0123456789abcdef0123"
WOO_SECRET = "wc_month_secret_0123456789abcdef"
# The month ends 25 days before today, so that every refund and renewal after it is still in the past (the doors
# refuse times ahead of the clock), whenever the suite runs.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=25)
START = END - timedelta(days=31)
CAMPAIGNS = ("welcome", "black_friday", "winback", "restock")
CHANNELS = {"sms": "attentive", "email": "klaviyo"}
MICRO = ("add_to_cart", "checkout", "signup", "lead")
CENT = Decimal("0.01")


@dataclass
class Delivery:
    """One POST to a hook, and what the hook must answer."""

    path: str
    body: bytes
    headers: dict[str, str]
    status: int
    note: str
    answer: dict[str, Any] | None = None  # the JSON it must answer, when the generator knows it exactly


@dataclass
class Person:
    phone: str  # E.164
    email: str
    ref: str  # recipient_ref of the phone: links carry the phone
    clicks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def national(self) -> str:
        """The phone as a US store's checkout keeps it."""
        digits = self.phone[2:]
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


@dataclass
class Month:
    clicks: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    api_calls: list[tuple[Any, int]] = field(default_factory=list)  # (body, expected status)
    csv: bytes = b""
    csv_errors: list[int] = field(default_factory=list)  # the lines the import must refuse
    csv_conflicts: int = 0
    truth: list[dict[str, Any]] = field(default_factory=list)

    def recorded(self, **row: Any) -> None:
        self.truth.append({"click_id": "", "recipient_ref": "", "refund_id": "", "subscription_id": "", **row})


def iso(moment: datetime, offset_hours: int = -5) -> str:
    """A Shopify time: ISO 8601 in the shop's zone."""
    local = moment.astimezone(UTC) + timedelta(hours=offset_hours)
    sign = "-" if offset_hours < 0 else "+"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(offset_hours):02d}:00"


def gmt(moment: datetime) -> str:
    """A WooCommerce `_gmt` time: naive, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def generate(seed: int = 14) -> Month:
    rng = random.Random(seed)
    keyer = RecipientKeyer(SECRET)
    month = Month()
    span = int((END - START).total_seconds())

    def moment(after: datetime | None = None, within: int = 3 * 86400) -> datetime:
        if after is None:
            return START + timedelta(seconds=rng.randrange(span))
        return after + timedelta(seconds=rng.randrange(1, within))

    def cents(low: int = 500, high: int = 30_000) -> Decimal:
        return (Decimal(rng.randrange(low, high)) * CENT).quantize(CENT)

    people: list[Person] = []
    for i in range(420):
        phone = f"+1415{2_000_000 + i * 7919 % 7_000_000:07d}"
        person = Person(phone, f"buyer{i}@mail.example", keyer.ref(phone))
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            campaign, channel = rng.choice(CAMPAIGNS), rng.choice(("sms", "sms", "email"))
            at = START - timedelta(days=3) + timedelta(seconds=rng.randrange(span + 3 * 86400))
            if rng.random() < 0.12:  # a link preview just before the tap: a bot, never credited
                month.clicks.append(click(f"b{len(month.clicks):05d}{rng.getrandbits(24):06x}",
                                          at - timedelta(seconds=2), is_bot=True, bot_reason="preview",
                                          recipient_ref=person.ref, campaign=campaign, channel=channel,
                                          utm_source=CHANNELS[channel], utm_medium=channel))
            tap = click(f"k{len(month.clicks):05d}{rng.getrandbits(24):06x}", at, recipient_ref=person.ref,
                        campaign=campaign, message=f"{campaign}_m{rng.randrange(2)}", channel=channel,
                        utm_source=CHANNELS[channel], utm_medium=channel, utm_campaign=campaign,
                        ip_ref=f"ip{rng.randrange(900)}", code=f"c{rng.randrange(300)}")
            month.clicks.append(tap)
            person.clicks.append(tap)
        people.append(person)

    def buyer_hint(person: Person, after: datetime) -> tuple[str, dict[str, Any]]:
        """A click id the buyer's cart carries (their latest tap before `after`, or an old one), or none."""
        taps = [c for c in person.clicks if c["ts"] <= after]
        how = rng.random()
        if taps and how < 0.55:
            return max(taps, key=lambda c: c["ts"])["click_id"], {}
        if taps and how < 0.7:
            return rng.choice(taps)["click_id"], {}
        return "", {}

    _shopify(month, rng, people, buyer_hint, moment, cents)
    _woocommerce(month, rng, people, buyer_hint, moment, cents)
    _api(month, rng, people, buyer_hint, moment, cents)
    _csv_import(month, rng, people, moment, cents)
    return month


def _shopify_delivery(topic: str, payload: Any, note: str, *, event_id: str | None = None,
                      webhook_id: str | None = None, secret: str = SHOPIFY_SECRET, status: int = 200,
                      answer: dict[str, Any] | None = None) -> Delivery:
    body = shopify_body(payload)
    return Delivery("/hooks/shopify", body, shopify_headers(topic, body, secret, event_id=event_id,
                                                             webhook_id=webhook_id), status, note, answer)


def _shopify(month: Month, rng: random.Random, people: list[Person], hint: Any, moment: Any, cents: Any) -> None:
    used: set[int] = set()
    for n in range(210):
        person = rng.choice(people)
        order_id = rng.randrange(2**53 + 1, 2**63)
        while order_id in used:
            order_id = rng.randrange(2**53 + 1, 2**63)
        used.add(order_id)
        paid_at = moment()
        total = cents()
        currency = "USD" if rng.random() < 0.1 else "EUR"
        clicked, _ = hint(person, paid_at)
        test_order = rng.random() < 0.05
        order = sample("shopify_orders_paid.json")
        order.update({
            "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}", "name": f"#{1000 + n}",
            "order_number": 1000 + n, "test": test_order, "financial_status": "paid", "cancelled_at": None,
            "cancel_reason": None, "currency": currency, "presentment_currency": currency,
            "total_price": str(total), "current_total_price": str(total), "subtotal_price": str(total),
            "created_at": iso(paid_at - timedelta(minutes=2)), "processed_at": iso(paid_at),
            "updated_at": iso(paid_at), "email": person.email, "contact_email": person.email, "phone": None,
            "note_attributes": [{"name": "gift_note", "value": "Happy birthday!"}], "landing_site": None,
        })
        order["customer"].update({"email": person.email, "phone": None})
        order["billing_address"].update({"phone": person.national, "country_code": "US"})
        where = rng.random()
        if clicked and where < 0.75:
            order["note_attributes"].append({"name": "sclid", "value": clicked})
        elif clicked:
            order["landing_site"] = f"/products/tee?utm_source=attentive&utm_medium=sms&sclid={clicked}"
        if rng.random() < 0.3:  # the order's own phone, international
            order["phone"] = person.phone
        buyer_ref = person.ref if rng.random() < 0.9 else ""
        if not buyer_ref:  # a buyer who gave neither the phone of their texts nor a phone at all: e-mail only
            order["billing_address"]["phone"] = None
            order["phone"] = None
            buyer_ref = RecipientKeyer(SECRET).ref(person.email)

        event = f"ev-{order_id}"
        month.deliveries.append(_shopify_delivery("orders/create", order, "created, not paid yet",
                                                  answer={"ignored": "topic"}))
        if test_order:
            month.deliveries.append(_shopify_delivery("orders/paid", order, "test order",
                                                      answer={"ignored": "test"}))
            refund = sample("shopify_refunds_create.json")
            refund.update({"id": order_id // 3, "order_id": order_id})
            refund["transactions"][0].update({"test": True, "amount": str(total)})
            month.deliveries.append(_shopify_delivery("refunds/create", refund, "test refund",
                                                      answer={"ignored": "test"}))
            continue
        month.deliveries.append(_shopify_delivery("orders/paid", order, "paid", event_id=event, webhook_id=f"w{n}",
                                                  answer={"accepted": 1, "duplicates": 0, "conflicts": 0}))
        month.recorded(order_id=str(order_id), type="purchase", value=total, currency=currency, click_id=clicked,
                       recipient_ref=buyer_ref, ts=paid_at.replace(microsecond=0), source="shopify")
        retry = rng.random()
        if retry < 0.15:  # Shopify's retry of the same delivery
            month.deliveries.append(_shopify_delivery("orders/paid", order, "retried", event_id=event,
                                                      webhook_id=f"w{n}"))
        elif retry < 0.25:  # the same event through a second subscription
            month.deliveries.append(_shopify_delivery("orders/paid", order, "second subscription",
                                                      event_id=event, webhook_id=f"w{n}-b"))
        elif retry < 0.3:  # an app replaying the order as a new event: the conversion is a duplicate
            month.deliveries.append(_shopify_delivery("orders/paid", order, "replayed", event_id=f"{event}-r",
                                                      answer={"accepted": 0, "duplicates": 1, "conflicts": 0}))
        if rng.random() < 0.04:  # edited after payment and sent again: a conflict, nothing changes
            edited = {**order, "total_price": str(total + 1)}
            month.deliveries.append(_shopify_delivery("orders/paid", edited, "edited total", event_id=f"{event}-e",
                                                      answer={"accepted": 0, "duplicates": 0, "conflicts": 1}))
        if rng.random() < 0.05:  # a forgery: another order, under a guessed secret
            forged = {**order, "id": order_id + 1, "total_price": "9999.00"}
            month.deliveries.append(_shopify_delivery("orders/paid", forged, "forged", secret="shpss_guessed_000000",
                                                      status=401))

        refunds: list[dict[str, Any]] = []
        refunded = Decimal(0)
        for k in range(rng.choice((0, 0, 0, 0, 0, 1, 1, 2))):
            amount = (total * Decimal(rng.randrange(10, 45)) / 100).quantize(CENT)
            at = moment(paid_at, 10 * 86400)
            refund = sample("shopify_refunds_create.json")
            refund_id = order_id // 2 + k
            refund.update({"id": refund_id, "order_id": order_id, "created_at": iso(at), "processed_at": iso(at),
                           "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}"})
            transaction = refund["transactions"][0]
            transaction.update({"id": refund_id + 7, "order_id": order_id, "amount": str(amount), "currency": currency,
                                "created_at": iso(at), "processed_at": iso(at)})
            if rng.random() < 0.3:  # refunded to two cards
                half = (amount / 2).quantize(CENT)
                second = {**transaction, "id": refund_id + 8, "amount": str(amount - half)}
                transaction["amount"] = str(half)
                refund["transactions"].append(second)
            if rng.random() < 0.3:  # a failed attempt that returned nothing
                refund["transactions"].append({**transaction, "id": refund_id + 9, "status": "failure",
                                               "amount": "50.00"})
            refunds.append(refund)
            refunded += amount
            month.deliveries.append(_shopify_delivery("refunds/create", refund, "refund", event_id=f"rf-{refund_id}",
                                                      answer={"accepted": 1, "duplicates": 0, "conflicts": 0}))
            month.recorded(order_id=str(order_id), type="refund", value=amount, currency=currency,
                           ts=at.replace(microsecond=0), source="shopify", refund_id=str(refund_id))
            if rng.random() < 0.2:
                month.deliveries.append(_shopify_delivery("refunds/create", refund, "refund retried",
                                                          event_id=f"rf-{refund_id}"))
            if rng.random() < 0.1:  # a forged refund of the whole order
                forged = {**refund, "id": refund_id + 100, "transactions": [{**transaction, "amount": str(total)}]}
                month.deliveries.append(_shopify_delivery("refunds/create", forged, "forged refund",
                                                          secret="wrong-secret-0000000000", status=401))
        if rng.random() < 0.07:  # cancelled: what is left is refunded (the listed refunds count once)
            at = moment(paid_at, 15 * 86400)
            cancelled = {**order, "financial_status": "refunded", "cancelled_at": iso(at), "cancel_reason": "customer",
                         "refunds": refunds}
            month.deliveries.append(_shopify_delivery("orders/cancelled", cancelled, "cancelled",
                                                      event_id=f"cx-{order_id}"))
            if total - refunded > 0:
                month.recorded(order_id=str(order_id), type="refund", value=total - refunded, currency=currency,
                               ts=at.replace(microsecond=0), source="shopify", refund_id="cancel")
    # A cancelled order that was never paid, and a body no reader uses: answered 200, nothing recorded.
    unpaid = {**sample("shopify_orders_paid.json"), "id": 2**62 + 5, "test": False, "financial_status": "voided"}
    month.deliveries.append(_shopify_delivery("orders/cancelled", unpaid, "never paid",
                                              answer={"ignored": "never_paid"}))
    month.deliveries.append(_shopify_delivery("customers/redact", {"shop_id": 954889, "customer": {"id": 1}},
                                              "compliance topic", answer={"ignored": "topic"}))


def _woo_delivery(topic: str, payload: Any, note: str, *, secret: str = WOO_SECRET, status: int = 200,
                  answer: dict[str, Any] | None = None) -> Delivery:
    body = woocommerce_body(payload)
    return Delivery("/hooks/woocommerce", body, woocommerce_headers(topic, body, secret), status, note, answer)


def _woocommerce(month: Month, rng: random.Random, people: list[Person], hint: Any, moment: Any, cents: Any) -> None:
    body, headers = woocommerce_ping(7)
    month.deliveries.append(Delivery("/hooks/woocommerce", body, headers, 200, "ping"))
    for n in range(130):
        person = rng.choice(people)
        order_id = 20_000 + n
        created = moment()
        paid_at = created + timedelta(seconds=rng.randrange(0, 3600))
        total = cents()
        clicked, _ = hint(person, paid_at)
        order = sample("woocommerce_order.json")
        order.update({
            "id": order_id, "number": str(order_id), "order_key": f"wc_order_{order_id:x}", "status": "pending",
            "currency": "EUR", "total": str(total), "date_created_gmt": gmt(created), "date_modified_gmt": gmt(created),
            "date_paid_gmt": None, "refunds": [],
        })
        order["billing"].update({"phone": person.national, "email": person.email, "country": "US"})
        if clicked:
            order["meta_data"].append({"id": 90_000 + n, "key": "sclid", "value": clicked})
        month.deliveries.append(_woo_delivery("order.created", order, "pending", answer={"ignored": "not_paid"}))
        if rng.random() < 0.06:  # never paid
            continue
        paid = {**order, "status": "processing", "date_paid_gmt": gmt(paid_at), "date_modified_gmt": gmt(paid_at)}
        month.deliveries.append(_woo_delivery("order.updated", paid, "paid",
                                              answer={"accepted": 1, "duplicates": 0, "conflicts": 0}))
        month.recorded(order_id=str(order_id), type="purchase", value=total, currency="EUR", click_id=clicked,
                       recipient_ref=person.ref, ts=paid_at, source="woocommerce")
        if rng.random() < 0.2:  # redelivered with a new delivery id
            month.deliveries.append(_woo_delivery("order.updated", paid, "redelivered"))
        if rng.random() < 0.5:
            done_at = moment(paid_at)
            month.deliveries.append(_woo_delivery("order.updated", {**paid, "status": "completed",
                                                                    "date_modified_gmt": gmt(done_at)}, "completed"))
        if rng.random() < 0.05:
            forged = {**paid, "id": order_id + 5000, "total": "5000.00"}
            month.deliveries.append(_woo_delivery("order.created", forged, "forged", secret="guess-000000000000",
                                                  status=401))
        entries: list[dict[str, Any]] = []
        refunded = Decimal(0)
        for k in range(rng.choice((0, 0, 0, 0, 1, 2))):
            amount = (total * Decimal(rng.randrange(5, 40)) / 100).quantize(CENT)
            at = moment(paid_at, 12 * 86400)
            entries = [*entries, {"id": 60_000 + n * 10 + k, "reason": "", "total": f"-{amount}"}]
            refunded += amount
            update = {**paid, "status": "processing", "refunds": entries, "date_modified_gmt": gmt(at)}
            month.deliveries.append(_woo_delivery("order.updated", update, "refund"))
            month.recorded(order_id=str(order_id), type="refund", value=amount, currency="EUR", ts=at,
                           source="woocommerce", refund_id=str(60_000 + n * 10 + k))
        if rng.random() < 0.08:  # refunded in full: the status, then the refund record WooCommerce adds for the rest
            at = moment(paid_at, 20 * 86400)
            rest = total - refunded
            month.deliveries.append(_woo_delivery("order.updated", {**paid, "status": "refunded", "refunds": entries,
                                                                    "date_modified_gmt": gmt(at)}, "refunded"))
            full = [*entries, {"id": 70_000 + n, "reason": "Order fully refunded", "total": f"-{rest}"}]
            later = at + timedelta(seconds=30)
            month.deliveries.append(_woo_delivery("order.updated", {**paid, "status": "refunded", "refunds": full,
                                                                    "date_modified_gmt": gmt(later)}, "refund record"))
            if rest > 0:
                month.recorded(order_id=str(order_id), type="refund", value=rest, currency="EUR", ts=at,
                               source="woocommerce", refund_id="refunded")
                month.recorded(order_id=str(order_id), type="refund", value=rest, currency="EUR", ts=later,
                               source="woocommerce", refund_id=str(70_000 + n))


def _api(month: Month, rng: random.Random, people: list[Person], hint: Any, moment: Any, cents: Any) -> None:
    batch: list[dict[str, Any]] = []
    for n in range(260):
        person = rng.choice(people)
        at = moment()
        kind = rng.choice(MICRO)
        clicked, _ = hint(person, at)
        item: dict[str, Any] = {"order_id": f"{kind}-{n}", "type": kind, "occurred_at": at.isoformat()}
        if clicked and rng.random() < 0.7:
            item["click_id"] = clicked
        else:
            item["recipient"] = person.phone
        value, currency = Decimal(0), ""
        if kind == "checkout" and rng.random() < 0.5:
            value, currency = cents(), "EUR"
            item.update(value=str(value), currency=currency)
        batch.append(item)
        month.recorded(order_id=item["order_id"], type=kind, value=value, currency=currency,
                       click_id=item.get("click_id", ""), recipient_ref=person.ref if "recipient" in item else "",
                       ts=at, source="api")
    for n in range(30):
        person = rng.choice(people)
        started = moment()
        amount = Decimal(rng.choice(("9.90", "19.00", "29.50")))
        currency = "USD" if n % 10 == 9 else "EUR"
        clicked, _ = hint(person, started)
        subscription = {"order_id": f"subscribe-{n}", "type": "subscription", "subscription_id": f"S-{n}",
                        "value": str(amount), "currency": currency, "occurred_at": started.isoformat(),
                        "recipient": person.phone}
        if clicked:
            subscription["click_id"] = clicked
        batch.append(subscription)
        month.recorded(order_id=f"subscribe-{n}", type="subscription", value=amount, currency=currency,
                       click_id=clicked, recipient_ref=person.ref, ts=started, source="api",
                       subscription_id=f"S-{n}")
        renewed = started
        for k in range(rng.choice((0, 1, 2, 3))):
            renewed = renewed + timedelta(days=7)  # weekly; the last ones fall after the month, still counted
            renewal = {"order_id": f"renew-{n}-{k}", "type": "renewal", "subscription_id": f"S-{n}",
                       "value": str(amount), "currency": currency, "occurred_at": renewed.isoformat()}
            batch.append(renewal)
            month.recorded(order_id=f"renew-{n}-{k}", type="renewal", value=amount, currency=currency, ts=renewed,
                           source="api", subscription_id=f"S-{n}")
    # A renewal of a subscription we never heard of: recorded, credited to nobody.
    orphan = END - timedelta(days=1)
    batch.append({"order_id": "renew-orphan", "type": "renewal", "subscription_id": "S-unknown", "value": "5",
                  "currency": "EUR", "occurred_at": orphan.isoformat()})
    month.recorded(order_id="renew-orphan", type="renewal", value=Decimal(5), currency="EUR", ts=orphan, source="api",
                   subscription_id="S-unknown")
    rng.shuffle(batch)
    for start in range(0, len(batch), 100):
        month.api_calls.append((batch[start:start + 100], 202))
    month.api_calls.append((batch[:50], 202))  # a retry of a batch: all duplicates


def _csv_import(month: Month, rng: random.Random, people: list[Person], moment: Any, cents: Any) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["order_id", "type", "value", "currency", "recipient", "occurred_at"])
    line = 1
    for n in range(70):
        person = rng.choice(people)
        at = moment().replace(microsecond=0)
        value = cents()
        line += 1
        bad = rng.random()
        if bad < 0.05:
            writer.writerow([f"POS-{n}", "purchase", "12,50", "EUR", person.phone, at.isoformat()])
            month.csv_errors.append(line)
            continue
        if bad < 0.1:  # a national number: the import cannot know its country
            writer.writerow([f"POS-{n}", "purchase", str(value), "EUR", person.national, at.isoformat()])
            month.csv_errors.append(line)
            continue
        by_email = rng.random() < 0.4
        recipient = person.email if by_email else person.phone
        epoch = rng.random() < 0.3
        writer.writerow([f"POS-{n}", "" if rng.random() < 0.5 else "purchase", str(value), "EUR", recipient,
                         str(int(at.timestamp())) if epoch else at.strftime("%Y-%m-%dT%H:%M:%SZ")])
        month.recorded(order_id=f"POS-{n}", type="purchase", value=value, currency="EUR",
                       recipient_ref=RecipientKeyer(SECRET).ref(recipient), ts=at, source="import")
        if rng.random() < 0.05:  # the same order twice in the file with another amount: a conflict of that line
            line += 1
            writer.writerow([f"POS-{n}", "purchase", str(value + 1), "EUR", recipient, at.isoformat()])
            month.csv_conflicts += 1
    month.csv = ("\ufeff" + out.getvalue()).encode()

