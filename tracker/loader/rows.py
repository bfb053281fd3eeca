"""Stream events into table rows: each event checked against the schema of its kind (tracker.events).

An event that fails its schema is a `BadEvent`, whose message is the reason the loader stores with it in
`dead_letters`. Adding a kind is one entry in `KINDS`: its table, its columns and its row function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from tracker.conversion import Conversion, InvalidConversion
from tracker.events import click, conversion, message
from tracker.loader.enrichment import classify
from tracker.message import InvalidMessage, Message

DEAD_LETTERS = "dead_letters"
DEAD_LETTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "DateTime64(3, 'UTC')"),
    ("stream", "String"),
    ("entry_id", "String"),
    ("reason", "String"),
    ("payload", "String"),
)
MAX_METHOD = 8


class BadEvent(ValueError):
    """A stream entry that cannot become a row; the message is the dead-letter reason."""


# The click's string fields, read in one C call; a row is then picked in one more out of those strings followed
# by the values the loader works out (`_DERIVED`, the Enrichment tuple last), so no per-event dict is built.
_CLICK_STRINGS = tuple(name for name, kind in click.FIELDS.items() if kind is str)
_click_strings = itemgetter(*_CLICK_STRINGS)
_DERIVED = ("ts", "tags", "method", "referer", *click.ENRICHED)
_click_columns = itemgetter(*(
    len(_CLICK_STRINGS) + _DERIVED.index(name) if name in _DERIVED else _CLICK_STRINGS.index(name)
    for name, _ in click.COLUMNS
))
_USER_AGENT, _METHOD, _PURPOSE, _REFERER = (
    _CLICK_STRINGS.index(name) for name in ("user_agent", "method", "purpose", "referer")
)


def click_row(event: dict[str, Any]) -> tuple[Any, ...]:
    """The `clicks` row of a click event. `ts` stays epoch milliseconds: the DateTime64(3) column's own ticks.

    This runs once per click at tens of thousands a second, hence C-speed checks: `itemgetter` for the
    fields and `str.join`, which refuses anything but strings, for their types.
    """
    ts = event.get("ts")
    if not event.get("click_id") or type(ts) is not int:
        raise BadEvent("click without click_id or integer ts")
    tags = event.get("tags") or []
    if type(tags) is not list or not _all_strings(tags):
        raise BadEvent("click tags are not a list of strings")
    try:
        strings = _click_strings(event)
    except KeyError:  # fields an older edge did not write, or a hand-written event: empty
        for name in _CLICK_STRINGS:
            event.setdefault(name, "")
        strings = _click_strings(event)
    if not _all_strings(strings):
        name = next(n for n, v in zip(_CLICK_STRINGS, strings, strict=True) if not isinstance(v, str))
        raise BadEvent(f"click field {name} is not a string")
    method = strings[_METHOD][:MAX_METHOD]
    referer = strings[_REFERER]
    if referer:  # the edge already cut it; an event from an older edge (or written by hand) is cut here as well
        referer = click.referer_origin(referer)
    enrichment = classify(strings[_USER_AGENT], method, strings[_PURPOSE])  # cached per agent
    return _click_columns((*strings, ts, tags, method, referer, *enrichment))


def _all_strings(values: Sequence[Any]) -> bool:
    try:
        "".join(values)
    except TypeError:
        return False
    return True


def conversion_row(event: dict[str, Any]) -> list[Any]:
    try:
        c = Conversion.from_event(event)
    except InvalidConversion as exc:
        raise BadEvent(f"conversion: {exc}") from None
    return [c.order_id, c.type, c.value, c.currency, c.click_id, c.recipient_ref,
            datetime.fromtimestamp(c.ts_ms / 1000, UTC), c.source, c.verified, c.subscription_id, c.refund_id]


def message_row(event: dict[str, Any]) -> list[Any]:
    try:
        m = Message.from_event(event)
    except InvalidMessage as exc:
        raise BadEvent(f"message: {exc}") from None
    fields = {**m.to_event(), "ts": datetime.fromtimestamp(m.ts_ms / 1000, UTC)}
    return [fields[name] for name, _ in message.COLUMNS]


class Kind(NamedTuple):
    table: str
    columns: tuple[tuple[str, str], ...]
    row: Callable[[dict[str, Any]], Sequence[Any]]


# The event kinds the loader knows, by the `kind` field of the event; anything else is a dead letter.
KINDS: dict[str, Kind] = {
    click.KIND: Kind(click.TABLE, click.COLUMNS, click_row),
    conversion.KIND: Kind(conversion.TABLE, conversion.COLUMNS, conversion_row),
    message.KIND: Kind(message.TABLE, message.COLUMNS, message_row),
}
