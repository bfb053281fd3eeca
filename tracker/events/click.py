"""The click event: the fields the edge writes for a tap, and the `clicks` row the loader makes of them.

One place for the shape. The edge builds an event from `link_fields` (encoded once per link, when the link
enters its cache) and `request_fields` (per tap); the loader checks an event against `FIELDS` and fills
`COLUMNS`; a test holds `COLUMNS` to the `clicks` table the migrations create. A new field goes here first.

In the stream, an entry carries the event JSON in field `e`. Its link part comes one of two ways: inside
`e`, when the edge had the link cached; or as the link record itself in field `l`, when the edge had never
seen the code and its tap script resolved the link in the same step that appended the click. `decode_entry`
reads both back into one event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from shortlinks.destination import is_ip_address
from shortlinks.link import Link

KIND = "click"
TABLE = "clicks"
LINK_FIELD = b"l"  # the link record a cold tap was resolved against, beside the event's field `e`

# Every field of the event in the stream and its JSON type. `user_agent` and `purpose` are read by the
# loader's enrichment and not stored as they are; `click_id` and `ts` are required, the rest default to empty.
FIELDS: dict[str, type] = {
    "kind": str,
    "code": str,
    "channel": str,
    "campaign": str,
    "message": str,
    "utm_source": str,
    "utm_medium": str,
    "utm_campaign": str,
    "utm_content": str,
    "utm_term": str,
    "tags": list,
    "recipient_ref": str,
    "destination_host": str,
    "domain": str,
    "click_id": str,
    "ts": int,
    "method": str,
    "user_agent": str,
    "referer": str,
    "purpose": str,
    "ip_ref": str,
}

# The `clicks` table, in insert order: column name and ClickHouse type.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("click_id", "String"),
    ("ts", "DateTime64(3, 'UTC')"),
    ("code", "String"),
    ("channel", "LowCardinality(String)"),
    ("campaign", "String"),
    ("message", "String"),
    ("utm_source", "LowCardinality(String)"),
    ("utm_medium", "LowCardinality(String)"),
    ("utm_campaign", "LowCardinality(String)"),
    ("utm_content", "LowCardinality(String)"),
    ("utm_term", "LowCardinality(String)"),
    ("tags", "Array(LowCardinality(String))"),
    ("recipient_ref", "String"),
    ("destination_host", "LowCardinality(String)"),
    ("method", "LowCardinality(String)"),
    ("is_bot", "Bool"),
    ("bot_reason", "LowCardinality(String)"),
    ("device_type", "LowCardinality(String)"),
    ("os", "LowCardinality(String)"),
    ("browser", "LowCardinality(String)"),
    ("referer", "String"),
    ("ip_ref", "String"),
    ("domain", "LowCardinality(String)"),
)
# Columns the loader derives from the event instead of copying a field (see tracker.loader.enrichment).
ENRICHED = ("is_bot", "bot_reason", "device_type", "os", "browser")


# scheme "://" [userinfo "@"] host: an IPv6 literal in brackets, else up to the first of / ? # : (a port) or the end.
_REFERER = re.compile(rb"([A-Za-z][A-Za-z0-9+.-]{0,31})://(?:[^/?#@\\]*@)?(\[[0-9A-Fa-f:.]{2,45}\]|[^/?#:@\[\]\\]{1,253})")
_HOST_CHARACTERS = re.compile(r"[a-z0-9._~!$&'()*+,;=%\[\]:-]+")


def referer_origin(raw: bytes | str) -> str:
    """What `clicks.referer` keeps of a Referer header: its scheme and host, lower-cased (SPEC section 6).

    The path and query of a referring page can carry personal data (`/inbox?to=alice@example.com`), and a
    user name can sit before the host, so only `scheme://host` ever leaves the edge; a header that is not an
    absolute URL (or whose host is not plain URL characters) leaves nothing. `android-app://com.google.android.gm`
    (the app a tap came from) keeps its package name, which is the host. An IP address as host is dropped too:
    no raw address is stored, not even a server's.
    """
    try:
        data = raw.encode("latin-1") if isinstance(raw, str) else raw  # the edge reads headers as latin-1
    except UnicodeEncodeError:
        return ""
    match = _REFERER.match(data.strip())
    if match is None:
        return ""
    scheme = match.group(1).decode("ascii").lower()
    host = match.group(2).decode("latin-1").lower().rstrip(".")
    if not host or not _HOST_CHARACTERS.fullmatch(host) or is_ip_address(host):
        return ""
    return f"{scheme}://{host}"


def link_fields(link: Link) -> dict[str, object]:
    """The link's part of the event, the same for every tap on the link."""
    return {
        "kind": KIND,
        "code": link.code,
        "channel": link.channel,
        "campaign": link.campaign,
        "message": link.message,
        "utm_source": link.utm.get("source", ""),
        "utm_medium": link.utm.get("medium", ""),
        "utm_campaign": link.utm.get("campaign", ""),
        "utm_content": link.utm.get("content", ""),
        "utm_term": link.utm.get("term", ""),
        "tags": list(link.tags),
        "recipient_ref": link.recipient_ref,
        "destination_host": urlsplit(link.destination).hostname or "",
        "domain": link.domain,
    }


def request_fields(
    click_id: str, ts_ms: int, method: str, user_agent: str, referer: str, purpose: str, ip_ref: str
) -> dict[str, object]:
    """The tap's part of the event: its click id, time (epoch milliseconds) and what the request said."""
    return {
        "click_id": click_id,
        "ts": ts_ms,
        "method": method,
        "user_agent": user_agent,
        "referer": referer,
        "purpose": purpose,
        "ip_ref": ip_ref,
    }


def decode_entry(fields: Mapping[bytes, bytes]) -> Any:
    """The event of a stream entry, its link part filled in from the record when it came as one.

    Raises orjson.JSONDecodeError for an entry that is not JSON; the rest is the loader's to check.
    """
    event = orjson.loads(fields.get(b"e", b""))
    record = fields.get(LINK_FIELD)
    if record is not None and isinstance(event, dict):
        event.update(link_fields(Link.from_record(record)))
    return event
