"""The conversion event: the fields a conversion travels in through the stream, and its `conversions` row.

`tracker.conversion.Conversion` validates a conversion at the door and is the only writer (`to_event`) and
reader (`from_event`) of these fields; the loader fills `COLUMNS` from it; a test holds `COLUMNS` to the
`conversions` table the migrations create.
"""

from __future__ import annotations

KIND = "conversion"
TABLE = "conversions"

# Every field of the event in the stream, all required. `value` travels as a decimal string (no float
# ever touches money) and `ts` as epoch milliseconds.
FIELDS: tuple[str, ...] = (
    "kind", "order_id", "type", "value", "currency", "click_id", "recipient_ref", "ts", "source", "verified",
)
# Fields added after the first release: every event written now has them, but an event an older edge left in
# the stream may not, and reads as '' (migration 0003 gives the columns the same default).
LATER_FIELDS: tuple[str, ...] = ("subscription_id", "refund_id")

# The `conversions` table, in insert order: column name and ClickHouse type.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("order_id", "String"),
    ("type", "LowCardinality(String)"),
    ("value", "Decimal(18, 4)"),
    ("currency", "LowCardinality(String)"),
    ("click_id", "String"),
    ("recipient_ref", "String"),
    ("ts", "DateTime64(3, 'UTC')"),
    ("source", "LowCardinality(String)"),
    ("verified", "Bool"),
    ("subscription_id", "String"),
    ("refund_id", "String"),
)
