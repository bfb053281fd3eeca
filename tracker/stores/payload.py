"""Reading a store's webhook payload: lossless JSON, the field readers both platforms need, and what they yield.

A store's payload is trusted (its signature was checked) but not well-formed by contract: platforms add,
rename and null fields across API versions, and a hook must never fail on a body it merely does not use
(WooCommerce disables a webhook after 5 failed deliveries). So every reader here returns None, or raises
`Unused` with a short counted reason, instead of letting a KeyError or a TypeError become a 500.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import orjson

_MONEY_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_ID_RE = re.compile(r"[0-9]{1,40}")
_CLICK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_TEXT = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Unused(Exception):
    """A verified delivery we answer 200 to and record nothing from; `reason` is short and counted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StoreConversion:
    """One conversion read from a store's payload, in the conversions API's vocabulary, not yet validated.

    `recipients` are the candidates in the platform's order of preference (phones and e-mails as the store
    wrote them); the first that normalises is the buyer, phones read in `region` when they lack a country code.
    `refund_id` tells one refund of an order from another ('' for a purchase): an order can be refunded in
    several parts, and each part must count once however often it is delivered.
    """

    order_id: str
    type: str  # 'purchase' | 'refund'
    value: Decimal
    currency: str
    ts_ms: int | None  # when it happened by the store's clock; None: not given (the receiver uses now)
    click_id: str = ""
    recipients: tuple[str, ...] = ()
    region: str = ""  # ISO 3166-1 alpha-2 of the buyer's address, '' when none
    refund_id: str = ""


def decode_json(body: bytes) -> object:
    """The body as JSON, integers exact at any size: order ids exceed 2^53 and must never pass through a float.

    orjson reads integers up to 64 bits exactly but silently turns a larger one into a float; a float in the
    result therefore sends the body through the standard library, which reads every integer exactly and every
    fraction as a Decimal. Raises `Unused('not_json')` for anything that is not JSON.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Unused("not_json") from None
    if not _has_float(value):
        return value
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise Unused("not_json") from None


def _has_float(value: object, depth: int = 0) -> bool:
    if isinstance(value, float):
        return True
    if depth > 64:
        return False  # orjson already refuses nesting deeper than 1024; floats that deep are never ours to read
    if isinstance(value, dict):
        return any(_has_float(item, depth + 1) for item in value.values())
    if isinstance(value, list):
        return any(_has_float(item, depth + 1) for item in value)
    return False


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def field(obj: object, *path: str) -> object:
    """obj[path[0]][path[1]]..., or None as soon as a step is not an object or lacks the key."""
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def text(raw: object) -> str:
    """A short string field, trimmed; '' for anything else (null, numbers, objects, over-long text)."""
    if isinstance(raw, str) and len(raw) <= _MAX_TEXT:
        return raw.strip()
    return ""


def identifier(raw: object) -> str:
    """A platform's numeric id as the exact decimal string: an integer, or a string of digits; else ''."""
    if isinstance(raw, bool):
        return ""
    if isinstance(raw, int):
        return str(raw) if 0 <= raw < 10**40 else ""
    if isinstance(raw, str) and _ID_RE.fullmatch(raw.strip()):
        return raw.strip()
    return ""


def money(raw: object) -> Decimal | None:
    """An amount written as a decimal string (how both platforms send money) or a JSON number; None otherwise.

    Magnitudes no shop charges (beyond 10^15, or finer than 10^-10) are refused here, so the sums the readers
    make can never overflow the decimal context; the conversion's own validation applies the real limits.
    """
    value: Decimal | None = None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = Decimal(raw) if abs(raw) < 10**16 else None
    elif isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, float):
        value = Decimal(repr(raw)) if math.isfinite(raw) else None
    elif isinstance(raw, str) and len(raw) <= 64 and _MONEY_RE.fullmatch(raw.strip()):
        value = Decimal(raw.strip())
    if value is None or not value.is_finite() or (value and not -10 <= value.adjusted() <= 15):
        return None
    return value


def currency(raw: object) -> str:
    """An ISO 4217-looking code, upper case; the conversion's own validation decides whether it is real."""
    code = text(raw).upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else ""


def timestamp_ms(raw: object, *, assume_utc: bool = True) -> int | None:
    """An ISO 8601 time (Shopify's carry an offset; WooCommerce's `_gmt` fields none, meaning UTC) -> epoch ms."""
    value = text(raw)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        if not assume_utc:
            return None
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def click_id(raw: object) -> str:
    """A well-formed click id, else '' (the field is the buyer's to write: a bad one is dropped, not refused)."""
    value = text(raw)
    return value if _CLICK_ID_RE.fullmatch(value) else ""


def click_id_in_url(url: object, click_param: str) -> str:
    """The click id in the query of a URL as the store kept it (absolute, or a path like '/?sclid=..')."""
    value = text(url) if isinstance(url, str) and len(url) <= 2048 else ""
    if not value:
        return ""
    try:
        query = urlsplit(value).query
    except ValueError:
        return ""
    for name, found in parse_qsl(query, keep_blank_values=False):
        if name == click_param:
            return click_id(found)
    return ""


def attribute(pairs: object, names: Iterable[str], key: str = "name") -> object:
    """The value of the first {key: name, 'value': ...} entry of a list whose key is one of `names`."""
    if not isinstance(pairs, list):
        return None
    wanted = tuple(names)
    for name in wanted:
        for pair in pairs:
            if isinstance(pair, Mapping) and pair.get(key) == name:
                return pair.get("value")
    return None


def candidates(*raw: object) -> tuple[str, ...]:
    """The non-empty strings among `raw`, in order, each once."""
    seen: list[str] = []
    for value in raw:
        found = text(value)
        if found and found not in seen:
            seen.append(found)
    return tuple(seen)


def country(*raw: object) -> str:
    """The first ISO 3166-1 alpha-2 code among `raw`, upper case; '' when none."""
    for value in raw:
        code = text(value).upper()
        if len(code) == 2 and code.isascii() and code.isalpha():
            return code
    return ""
