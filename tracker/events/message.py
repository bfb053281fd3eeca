"""The message event: the fields a text's status travels in through the stream, and its `messages` row.

`tracker.message.Message` validates a message at its door (the admin API, the Twilio and Telnyx hooks) and is
the only writer (`to_event`) and reader (`from_event`) of these fields; the loader fills `COLUMNS` from it; a
test holds `COLUMNS` to the `messages` table the migrations create.
"""

from __future__ import annotations

KIND = "message"
TABLE = "messages"

# Every field of the event in the stream, all required but those of LATER_FIELDS (added after the first
# release: an event an older writer left in the stream reads '' for them); `ts` travels as epoch
# milliseconds. The columns are these fields less `kind`, in the same order.
FIELDS: tuple[str, ...] = (
    "kind", "message_id", "status", "ts", "recipient_ref", "code", "channel", "campaign", "message", "tags",
    "provider", "error_code", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "source",
    "domain",
)
LATER_FIELDS: tuple[str, ...] = ("domain",)

# The `messages` table, in insert order: column name and ClickHouse type.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("message_id", "String"),
    ("status", "LowCardinality(String)"),
    ("ts", "DateTime64(3, 'UTC')"),
    ("recipient_ref", "String"),
    ("code", "String"),
    ("channel", "LowCardinality(String)"),
    ("campaign", "String"),
    ("message", "String"),
    ("tags", "Array(LowCardinality(String))"),
    ("provider", "LowCardinality(String)"),
    ("error_code", "LowCardinality(String)"),
    ("utm_source", "LowCardinality(String)"),
    ("utm_medium", "LowCardinality(String)"),
    ("utm_campaign", "LowCardinality(String)"),
    ("utm_content", "LowCardinality(String)"),
    ("utm_term", "LowCardinality(String)"),
    ("source", "LowCardinality(String)"),
    ("domain", "LowCardinality(String)"),
)
