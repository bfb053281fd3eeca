"""One schema per event kind: the edge builds from it, the loader checks against it, the SQL is held to it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from shortlinks.link import Link
from shortlinks.recipient import RecipientKeyer
from tests.support.settings import make_settings
from tracker.conversion import Conversion
from tracker.edge.click import ClickRequest
from tracker.edge.redirect import COLD_HEAD, TargetCompiler, request_event
from tracker.events import click, conversion, message
from tracker.loader.rows import DEAD_LETTER_COLUMNS, DEAD_LETTERS, KINDS, BadEvent, click_row
from tracker.message import Message

LINK = Link(code="abc123", destination="https://shop.example/sale?x=1",
            tagged_url="https://shop.example/sale?x=1&utm_source=klaviyo&utm_medium=sms",
            utm={"source": "klaviyo", "medium": "sms"}, channel="sms", campaign="spring", message="m1",
            tags=("vip",), recipient_ref="ab12", expires_at=None, created_at=datetime(2026, 11, 1, tzinfo=UTC))
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
REQUEST = ClickRequest(method="GET", user_agent=IPHONE, referer="", purpose="", client="10.0.0.1")


def table_columns(client: Client, table: str) -> list[tuple[str, str]]:
    return [(name, kind) for name, kind in client.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
        "ORDER BY position", parameters={"t": table}).result_rows]


@pytest.mark.parametrize(("table", "columns"), [
    *((kind.table, kind.columns) for kind in KINDS.values()),
    (DEAD_LETTERS, DEAD_LETTER_COLUMNS),
])
def test_every_table_the_loader_fills_has_exactly_the_columns_of_its_schema(clickhouse: Client, table, columns):
    assert table_columns(clickhouse, table) == list(columns)


def test_the_loader_knows_every_kind_by_the_name_its_schema_gives_it():
    assert {name: kind.table for name, kind in KINDS.items()} == {
        click.KIND: click.TABLE, conversion.KIND: conversion.TABLE, message.KIND: message.TABLE,
    }


def test_the_edge_writes_exactly_the_click_fields_with_their_types():
    target = TargetCompiler(make_settings())(LINK.to_record())
    event = orjson.loads(target.click_event("cid", REQUEST, 1_790_000_000.5, "ipref"))
    assert list(event) == list(click.FIELDS)
    for name, kind in click.FIELDS.items():
        assert isinstance(event[name], kind), name
    assert event["kind"] == click.KIND and event["ts"] == 1_790_000_000_500


def test_a_cold_tap_entry_reads_back_as_the_event_a_cached_link_would_have_written():
    """A tap on a link the edge never cached: the request's fields in `e`, the link record in `l`."""
    warm = orjson.loads(TargetCompiler(make_settings())(LINK.to_record()).click_event("cid", REQUEST, 1.5, "ipref"))
    cold = click.decode_entry({b"e": COLD_HEAD + request_event("cid", REQUEST, 1.5, "ipref")[1:],
                               click.LINK_FIELD: LINK.to_record()})
    assert cold == warm and set(cold) == set(click.FIELDS)


def test_every_click_column_is_a_click_field_or_derived_by_the_loader():
    copied = {name for name, _ in click.COLUMNS} - set(click.ENRICHED)
    assert copied <= set(click.FIELDS)
    # user_agent and purpose only feed the enrichment; kind picks the table.
    assert set(click.FIELDS) - copied == {"kind", "user_agent", "purpose"}


def test_the_loader_turns_an_edge_event_into_a_row_in_column_order():
    target = TargetCompiler(make_settings())(LINK.to_record())
    row = click_row(orjson.loads(target.click_event("cid", REQUEST, 1_790_000_000.5, "ipref")))
    values = dict(zip((name for name, _ in click.COLUMNS), row, strict=True))
    assert values["click_id"] == "cid" and values["code"] == "abc123" and values["tags"] == ["vip"]
    assert values["ts"] == 1_790_000_000_500  # the DateTime64(3) column's ticks
    assert values["destination_host"] == "shop.example" and values["ip_ref"] == "ipref"
    assert values["device_type"] == "mobile" and values["is_bot"] is False


@pytest.mark.parametrize(("change", "reason"), [
    ({"click_id": ""}, "click without click_id or integer ts"),
    ({"ts": "1790000000000"}, "click without click_id or integer ts"),
    ({"ts": True}, "click without click_id or integer ts"),
    ({"tags": "vip"}, "click tags are not a list of strings"),
    ({"campaign": 7}, "click field campaign is not a string"),
    ({"user_agent": None}, "click field user_agent is not a string"),
])
def test_a_click_that_fails_its_schema_is_refused_with_a_reason(change, reason):
    event = {**orjson.loads(TargetCompiler(make_settings())(LINK.to_record()).click_event("c", REQUEST, 1.0, "")),
             **change}
    with pytest.raises(BadEvent, match=reason):
        click_row(event)


def test_a_conversion_event_has_exactly_the_schema_fields():
    sale = Conversion(order_id="o-1", type="purchase", value=Decimal("19.99"), currency="EUR", click_id="c1",
                      recipient_ref="", ts_ms=1_790_000_000_000, source="api", verified=True)
    event = sale.to_event()
    assert tuple(event) == conversion.FIELDS + conversion.LATER_FIELDS and event["kind"] == conversion.KIND
    row = KINDS[conversion.KIND].row(orjson.loads(orjson.dumps(event)))
    assert len(row) == len(conversion.COLUMNS)
    assert dict(zip((name for name, _ in conversion.COLUMNS), row, strict=True))["value"] == Decimal("19.99")


def test_a_conversion_event_an_older_edge_wrote_still_loads_with_empty_later_fields():
    renewal = Conversion(order_id="o-2", type="renewal", value=Decimal("9"), currency="EUR", click_id="",
                         recipient_ref="", ts_ms=1_790_000_000_000, source="api", verified=True, subscription_id="s1")
    older = {name: value for name, value in renewal.to_event().items() if name not in conversion.LATER_FIELDS}
    older["type"] = "purchase"
    values = dict(zip((name for name, _ in conversion.COLUMNS), KINDS[conversion.KIND].row(older), strict=True))
    assert (values["subscription_id"], values["refund_id"]) == ("", "")


def test_a_message_event_has_exactly_the_schema_fields_and_its_row_their_columns():
    sent = Message.from_api({"message_id": "SM1", "status": "sent", "campaign": "spring", "tags": ["vip"],
                             "occurred_at": 1_790_000_000}, RecipientKeyer("k" * 16), 1_790_000_000_000)
    event = sent.to_event()
    assert tuple(event) == message.FIELDS and event["kind"] == message.KIND
    assert [name for name, _ in message.COLUMNS] == [name for name in message.FIELDS if name != "kind"]
    row = dict(zip((name for name, _ in message.COLUMNS), KINDS[message.KIND].row(orjson.loads(orjson.dumps(event))),
                   strict=True))
    assert row["ts"] == datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC) and row["tags"] == ["vip"]
    assert (row["message_id"], row["status"], row["campaign"], row["source"]) == ("SM1", "sent", "spring", "api")


def test_a_message_event_off_its_schema_is_a_dead_letter_naming_it():
    event = Message.from_api({"message_id": "SM1", "status": "sent"}, RecipientKeyer("k" * 16),
                             1_790_000_000_000).to_event()
    with pytest.raises(BadEvent, match="message: status"):
        KINDS[message.KIND].row({**event, "status": "queued"})


@pytest.mark.parametrize(("header", "kept"), [
    (b"https://mail.example/inbox?to=alice@example.com&phone=%2B14155550123", "https://mail.example"),
    (b"https://Alice:pw@Mail.Example:8443/thread/1#msg", "https://mail.example"),
    (b"HTTPS://T.CO/abc", "https://t.co"),
    (b"https://shop.example?utm=1", "https://shop.example"),
    (b"android-app://com.google.android.gm/", "android-app://com.google.android.gm"),
    (b"https://xn--fa-hia.example/p", "https://xn--fa-hia.example"),
    (b"http://203.0.113.7/router?user=alice", ""),  # no raw address, not even a server's
    (b"http://[2001:db8::1]:8080/p", ""),
    (b"/relative?to=alice@example.com", ""),
    (b"mailto:alice@example.com", ""),
    (b"https://exa mple.example/", ""),
    (b"", ""),
])
def test_a_referer_keeps_its_scheme_and_host_only(header, kept):
    assert click.referer_origin(header) == kept


def test_the_edge_cuts_the_referer_before_the_event_is_written():
    scope = {"method": "GET", "client": ("10.0.0.1", 5000), "headers": [
        (b"user-agent", b"Mozilla/5.0 (iPhone)"),
        (b"referer", b"https://mail.example/inbox?to=alice@example.com&phone=%2B14155550123")]}
    request = ClickRequest.from_scope(scope)
    assert request.referer == "https://mail.example"
    event = click.request_fields("c1", 1, request.method, request.user_agent, request.referer, request.purpose, "r")
    assert "alice" not in orjson.dumps(event).decode() and event["referer"] == "https://mail.example"


def test_the_loader_cuts_a_referer_an_older_edge_wrote_whole():
    event = {**click.link_fields(LINK), **click.request_fields(
        "c1", 1_700_000_000_000, "GET", "Mozilla/5.0 (iPhone)", "https://mail.example/inbox?to=alice@example.com",
        "", "r")}
    row = dict(zip([name for name, _ in click.COLUMNS], click_row(event), strict=True))
    assert row["referer"] == "https://mail.example"
