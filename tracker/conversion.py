"""Conversions: an order (or a signup, a lead...) reported by the storefront, validated once.

Three doors lead in. The admin API (`Conversion.from_api`, also behind the CSV import) is authenticated, so
what it says is `verified` and it may name the recipient. The public pixel and `/t.js`
(`Conversion.from_pixel`) can be fired by anyone, so they are `verified` only when they carry a valid
`sig`. A store's webhook (`Conversion.from_store`) was verified by its platform's signature. All end in
the same frozen `Conversion`; `to_event` is what goes into the Redis stream and `from_event` is
what the loader reads back, so a conversion is validated at the door and nowhere else.

Every refusal is an `InvalidConversion` with a short `reason` (counted by the endpoints and sent
back as `X-Tracker-Error` by the pixel) and a one-line message naming the field. Messages never
echo what was sent: the input may be a phone number or an e-mail address typed in the wrong field.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import orjson

from shortlinks.recipient import InvalidRecipient, RecipientKeyer
from tracker.events import conversion as event
from tracker.money import CENTS_AND_BELOW, parse_currency, parse_value
from tracker.stores.payload import StoreConversion

_T = TypeVar("_T")

CONVERSION_TYPES: tuple[str, ...] = (
    "purchase", "refund", "add_to_cart", "checkout", "signup", "lead", "subscription", "renewal",
)
SOURCES: tuple[str, ...] = ("pixel", "api", "js", "shopify", "woocommerce", "import")
SIGNING_MODES: tuple[str, ...] = ("off", "optional", "required")

API_FIELDS = frozenset(
    {"order_id", "type", "value", "currency", "click_id", "recipient", "occurred_at", "subscription_id"}
)
MAX_ORDER_ID_LENGTH = 128
# One cap for every string that comes in, checked before any parsing, so no parser ever sees a huge input.
MAX_FIELD_LENGTH = 256
MAX_PIXEL_PARAMS = 20

# A sale without an amount is meaningless (a subscription's is its recurring amount); the other types are
# events whose value is optional.
_VALUE_REQUIRED = frozenset({"purchase", "refund", "subscription", "renewal"})
# A subscription is named so that its renewals can follow it.
_SUBSCRIPTION_REQUIRED = frozenset({"subscription", "renewal"})
_CLICK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A store's id of one refund of an order (or our own names for a cancellation's rest): never a ':', which
# separates it from the order id in the dedup identity.
_REFUND_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RECIPIENT_REF_RE = re.compile(r"[0-9a-f]{1,64}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: anything earlier is a unit or clock mistake
_MAX_FUTURE_MS = 5 * 60 * 1000  # storefront clocks drift; further ahead is a mistake (often ms sent as s)


class InvalidConversion(ValueError):
    """A conversion we refuse. `reason` is short and machine-readable; `str(exc)` names the field."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Conversion:
    order_id: str
    type: str
    value: Decimal
    currency: str  # ISO 4217 alpha-3, upper case; '' only when value is 0 and none was given
    click_id: str  # '' when none
    recipient_ref: str  # '' when none; the raw recipient is never kept
    ts_ms: int  # epoch milliseconds, UTC
    source: str  # one of SOURCES
    verified: bool
    subscription_id: str = ""  # the subscription a `subscription` starts or a `renewal` renews; '' when none
    refund_id: str = ""  # which refund of the order, for stores that refund in parts; '' when none

    @classmethod
    def from_api(cls, obj: object, keyer: RecipientKeyer, now_ms: int, source: str = "api") -> Conversion:
        """One item of `POST /v1/conversions` (or a line of the CSV import, `source` 'import').

        Strict about unknown keys: a typo must not silently lose data.
        """
        if not isinstance(obj, dict):
            raise InvalidConversion("not_an_object", "each conversion must be a JSON object")
        unknown = sorted(str(key) for key in obj.keys() - API_FIELDS)
        if unknown:
            raise InvalidConversion("unknown_field", f"{unknown[0][:40]!r}: unknown field (allowed: "
                                    f"{', '.join(sorted(API_FIELDS))})")
        for name, raw in obj.items():
            _check_length(name, raw)
        # Field by field in the documented order, so the reason reported for a bad object is predictable.
        order_id = _parse_order_id(obj.get("order_id"))
        type_ = _parse_type(obj.get("type"))
        value, currency = _parse_amount(type_, obj.get("value"), obj.get("currency"))
        return cls(
            order_id=order_id,
            type=type_,
            value=value,
            currency=currency,
            click_id=_parse_click_id(obj.get("click_id")),
            recipient_ref=_recipient_ref(obj.get("recipient"), keyer),
            ts_ms=parse_occurred_at(obj.get("occurred_at"), now_ms),
            source=source,
            verified=True,
            subscription_id=_parse_subscription_id(type_, obj.get("subscription_id")),
        )

    @classmethod
    def from_store(cls, found: StoreConversion, source: str, keyer: RecipientKeyer, now_ms: int) -> Conversion:
        """A conversion a store's verified webhook carried (`tracker.stores`), validated like the API's.

        The buyer is the first of the store's recipients that normalises (stores keep phones in national format,
        read in the address's country; a malformed one falls through to the e-mail). A time the store's clock
        got wrong is replaced by now rather than refused: the platform would only deliver it again.
        """
        value, currency = _parse_amount(found.type, format(found.value, "f"), found.currency)
        ts_ms = found.ts_ms
        if ts_ms is None or not _MIN_TS_MS <= ts_ms <= now_ms + _MAX_FUTURE_MS:
            ts_ms = now_ms
        return cls(
            order_id=_parse_order_id(found.order_id),
            type=_parse_type(found.type),
            value=value,
            currency=currency,
            click_id=_parse_click_id(found.click_id),
            recipient_ref=_first_recipient_ref(found.recipients, found.region, keyer),
            ts_ms=ts_ms,
            source=source,
            verified=True,
            refund_id=_parse_refund_id(found.refund_id),
        )

    @classmethod
    def from_pixel(
        cls,
        params: Mapping[str, str],
        cookie_click_id: str,
        *,
        click_param: str,
        secret: str,
        signing: str,
        now_ms: int,
    ) -> Conversion:
        """`GET /px.gif` (and `/t.js`, which fires it with `src=js`).

        Parameters we do not know are ignored, unlike the API: storefront tags add cache busters and
        their own parameters to image URLs. The click id in the query wins over the cookie because it
        is what the page that fired the pixel actually saw.
        """
        if signing not in SIGNING_MODES:
            raise ValueError(f"signing must be one of {', '.join(SIGNING_MODES)}, got {signing!r}")
        if len(params) > MAX_PIXEL_PARAMS:
            raise InvalidConversion("field_too_long", f"too many query parameters (at most {MAX_PIXEL_PARAMS})")
        for name, raw in params.items():
            if len(name) > MAX_FIELD_LENGTH:
                raise InvalidConversion("field_too_long", f"a parameter name is longer than {MAX_FIELD_LENGTH}")
            _check_length(name, raw)
        verified = _check_signature(params, secret, signing)
        order_id = _parse_order_id(params.get("order_id"))
        type_ = _parse_type(params.get("type"))
        value, currency = _parse_amount(type_, params.get("value"), params.get("currency"))
        return cls(
            order_id=order_id,
            type=type_,
            value=value,
            currency=currency,
            click_id=_pixel_click_id(params.get(click_param, ""), cookie_click_id, click_param),
            recipient_ref="",
            ts_ms=now_ms,
            source="js" if params.get("src") == "js" else "pixel",
            verified=verified,
            # Checked here, as the API checks it: a subscription pixel without one would be answered 200 and then
            # refused by the loader's schema, an acknowledged event lost.
            subscription_id=_parse_subscription_id(type_, params.get("subscription_id", "")),
        )

    def to_event(self) -> dict[str, object]:
        """The stream event. The value travels as a plain decimal string so no float ever touches money."""
        return {
            "kind": event.KIND,
            "order_id": self.order_id,
            "type": self.type,
            "value": format(self.value, "f"),
            "currency": self.currency,
            "click_id": self.click_id,
            "recipient_ref": self.recipient_ref,
            "ts": self.ts_ms,
            "source": self.source,
            "verified": self.verified,
            "subscription_id": self.subscription_id,
            "refund_id": self.refund_id,
        }

    @classmethod
    def from_event(cls, d: Mapping[str, object]) -> Conversion:
        """Inverse of `to_event`, for the loader. Keys it does not know are ignored so that an edge
        upgraded first (writing a new field) does not stall an older loader; the fields added later
        (`event.LATER_FIELDS`) default to '' so that events an older edge wrote still load."""
        if not isinstance(d, Mapping):
            raise InvalidConversion("not_an_object", "a conversion event must be an object")
        missing = [name for name in event.FIELDS if name not in d]
        if missing:
            raise InvalidConversion("bad_event", f"{missing[0]}: missing from the event")
        if d["kind"] != event.KIND:
            raise InvalidConversion("bad_event", "kind: expected 'conversion'")
        ts, source, verified, recipient_ref = d["ts"], d["source"], d["verified"], d["recipient_ref"]
        if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
            raise InvalidConversion("bad_event", "ts: expected epoch milliseconds (an integer)")
        if source not in SOURCES:
            raise InvalidConversion("bad_event", f"source: expected one of {', '.join(SOURCES)}")
        if not isinstance(verified, bool):
            raise InvalidConversion("bad_event", "verified: expected true or false")
        if recipient_ref != "" and not (isinstance(recipient_ref, str) and _RECIPIENT_REF_RE.fullmatch(recipient_ref)):
            raise InvalidConversion("bad_event", "recipient_ref: expected a hex HMAC or ''")
        raw_value = d["value"]
        if not isinstance(raw_value, str):
            raise InvalidConversion("bad_value", "value: expected a decimal string in the event")
        order_id = _parse_order_id(d["order_id"])
        type_ = _parse_type(d["type"])
        value, currency = _parse_amount(type_, raw_value, d["currency"])
        return cls(
            order_id=order_id,
            type=type_,
            value=value,
            currency=currency,
            click_id=_parse_click_id(d["click_id"]),
            recipient_ref=str(recipient_ref),
            ts_ms=ts,
            source=str(source),
            verified=verified,
            subscription_id=_parse_subscription_id(type_, d.get("subscription_id", "")),
            refund_id=_parse_refund_id(d.get("refund_id", "")),
        )

    def record_item(self) -> tuple[str, str, bytes]:
        """What the recorder takes: the dedup identity, the fingerprint a repeat must match, the event JSON."""
        return conversion_identity(self), conversion_fingerprint(self), orjson.dumps(self.to_event())


def pixel_signature(secret: str, order_id: str, value: str, currency: str, type_: str) -> str:
    """hex HMAC-SHA256(secret, "order_id|value|currency|type") over the strings exactly as sent.

    Exactly as sent (an absent parameter is ''), so the storefront can sign without knowing our
    normalisation: "19.90" and "19.9" are different signatures. The '|' join cannot be shifted into a
    forgery: value, currency and type never contain '|' once validated, so the fields parse from the right.
    """
    message = "|".join((order_id, value, currency, type_)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _absent(raw: object) -> bool:
    # JSON null and '' both mean "not given": backends serialise empty optionals either way.
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _check_length(name: object, raw: object) -> None:
    if isinstance(raw, str) and len(raw) > MAX_FIELD_LENGTH:
        raise InvalidConversion("field_too_long", f"{str(name)[:40]}: longer than {MAX_FIELD_LENGTH} characters")


def _parse_order_id(raw: object) -> str:
    if _absent(raw):
        raise InvalidConversion("missing_order_id", "order_id: required")
    return _parse_identifier(raw, "order_id")


def _parse_identifier(raw: object, name: str) -> str:
    """An order's or a subscription's id as shops write them: a string or an integer, trimmed."""
    # Integers are accepted because many shops number their orders; floats are not (1001.0 or 1001?).
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) < 10**MAX_ORDER_ID_LENGTH:
        raw = str(raw)
    if not isinstance(raw, str):
        raise InvalidConversion(f"bad_{name}", f"{name}: expected a string or an integer")
    # Trimmed so that the API and the pixel dedupe " 1001" and "1001" as the same order.
    text = raw.strip()
    if len(text) > MAX_ORDER_ID_LENGTH:
        raise InvalidConversion("field_too_long", f"{name}: longer than {MAX_ORDER_ID_LENGTH} characters")
    # U+FFFD is what undecodable bytes (a pixel's %ff) become: two different orders must not collapse into one.
    if not text.isprintable() or "\ufffd" in text:
        raise InvalidConversion(f"bad_{name}", f"{name}: must not contain control or invisible characters")
    return text


def _parse_type(raw: object) -> str:
    if _absent(raw):
        return "purchase"
    type_ = raw.strip().lower() if isinstance(raw, str) else ""
    if type_ not in CONVERSION_TYPES:
        raise InvalidConversion("bad_type", f"type: expected one of {', '.join(CONVERSION_TYPES)}")
    return type_


def _parse_amount(type_: str, raw_value: object, raw_currency: object) -> tuple[Decimal, str]:
    """Value and currency together, because whether the currency is required depends on the value."""
    if _absent(raw_value):
        if type_ in _VALUE_REQUIRED:
            raise InvalidConversion("missing_value", f"value: required for a {type_}")
        value = Decimal(0)
    else:
        value = _money(parse_value, raw_value, "bad_value")
    if not _absent(raw_currency):
        return value, _money(parse_currency, raw_currency, "bad_currency")
    if value > 0:
        raise InvalidConversion("missing_currency", "currency: required when value is above 0")
    return value, ""


def _money(parse: Callable[[object], _T], raw: object, reason: str) -> _T:
    try:
        return parse(raw)
    except ValueError as exc:
        raise InvalidConversion(reason, str(exc)) from None


def _parse_subscription_id(type_: str, raw: object) -> str:
    if _absent(raw):
        if type_ in _SUBSCRIPTION_REQUIRED:
            raise InvalidConversion("missing_subscription_id", f"subscription_id: required for a {type_}")
        return ""
    return _parse_identifier(raw, "subscription_id")


def _parse_refund_id(raw: object) -> str:
    if raw == "":
        return ""
    if not isinstance(raw, str) or not _REFUND_ID_RE.fullmatch(raw):
        raise InvalidConversion("bad_event", "refund_id: expected 1 to 64 characters of A-Z a-z 0-9 _ -")
    return raw


def _parse_click_id(raw: object) -> str:
    if _absent(raw):
        return ""
    if not isinstance(raw, str) or not _CLICK_ID_RE.fullmatch(raw):
        raise InvalidConversion("bad_click_id", "click_id: expected 1 to 64 characters of A-Z a-z 0-9 _ -")
    return raw


def _pixel_click_id(query_value: str, cookie_value: str, click_param: str) -> str:
    if query_value:
        if not _CLICK_ID_RE.fullmatch(query_value):
            raise InvalidConversion("bad_click_id", f"{click_param}: expected 1 to 64 characters of A-Z a-z 0-9 _ -")
        return query_value
    # A bad cookie is not the caller's fault (another script may own a cookie of that name): drop it.
    return cookie_value if _CLICK_ID_RE.fullmatch(cookie_value) else ""


def _recipient_ref(raw: object, keyer: RecipientKeyer) -> str:
    if _absent(raw):
        return ""
    try:
        return keyer.ref(raw)  # type: ignore[arg-type]  # non-strings are refused by the keyer itself
    except InvalidRecipient as exc:
        # The keyer's messages never contain the recipient; `from None` keeps it out of tracebacks too.
        raise InvalidConversion("bad_recipient", f"recipient: {exc}") from None


def _first_recipient_ref(candidates: tuple[str, ...], region: str, keyer: RecipientKeyer) -> str:
    for candidate in candidates:
        if len(candidate) <= MAX_FIELD_LENGTH:
            try:
                return keyer.ref(candidate, region or None)
            except InvalidRecipient:
                continue
    return ""


def parse_occurred_at(raw: object, now_ms: int) -> int:
    """ISO 8601 (naive means UTC) or epoch seconds -> epoch milliseconds; defaults to now."""
    if _absent(raw):
        return now_ms
    if isinstance(raw, bool):
        raise InvalidConversion("bad_occurred_at", "occurred_at: expected an ISO 8601 datetime or epoch seconds")
    if isinstance(raw, int):
        ts_ms = raw * 1000
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidConversion("bad_occurred_at", "occurred_at: must be a finite number of epoch seconds")
        ts_ms = round(raw * 1000)
    elif isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise InvalidConversion(
                "bad_occurred_at", "occurred_at: expected an ISO 8601 datetime like 2025-01-31T12:00:00Z"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ts_ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    else:
        raise InvalidConversion("bad_occurred_at", "occurred_at: expected an ISO 8601 datetime or epoch seconds")
    if ts_ms < _MIN_TS_MS:
        raise InvalidConversion("bad_occurred_at", "occurred_at: before 2000")
    if ts_ms > now_ms + _MAX_FUTURE_MS:
        raise InvalidConversion(
            "bad_occurred_at", "occurred_at: more than 5 minutes in the future (epoch seconds, not milliseconds?)"
        )
    return ts_ms


def _check_signature(params: Mapping[str, str], secret: str, signing: str) -> bool:
    """Whether the pixel is `verified`; raises when the signing mode refuses it."""
    if signing == "off":
        return False
    sig = params.get("sig", "")
    if not sig:
        if signing == "required":
            raise InvalidConversion("signature_required", "sig: required (HMAC-SHA256 of order_id|value|currency|type)")
        return False
    expected = pixel_signature(
        secret, params.get("order_id", ""), params.get("value", ""), params.get("currency", ""), params.get("type", "")
    )
    # Bytes, because compare_digest refuses non-ASCII str and the query is attacker-controlled.
    if not hmac.compare_digest(expected.encode(), sig.strip().lower().encode()):
        raise InvalidConversion("bad_signature", "sig: does not match order_id|value|currency|type")
    return True


def conversion_identity(conversion: Conversion) -> str:
    """What makes two conversions the same one, the key the recorder deduplicates on: the order and the type,
    and for a refund a store numbers, which of the order's refunds (types and refund ids never hold ':')."""
    if conversion.refund_id:
        return f"{conversion.type}/{conversion.refund_id}:{conversion.order_id}"
    return f"{conversion.type}:{conversion.order_id}"


def conversion_fingerprint(conversion: Conversion) -> str:
    """What a repeat of the same conversion must match to be a duplicate rather than a conflict: value and
    currency, written the same way however they were sent ("19.9" and "19.90" are one amount)."""
    return f"{conversion.value.quantize(CENTS_AND_BELOW):f} {conversion.currency}"
