"""The message schema: its three doors, the status mapping, and the stream event the loader reads back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shortlinks.link import Link
from shortlinks.recipient import RecipientKeyer
from tests.support.receipts import telnyx_event, twilio_params
from tracker.events import message as message_event
from tracker.message import (
    STATUSES,
    TELNYX_STATUSES,
    TWILIO_STATUSES,
    InvalidMessage,
    Message,
)

KEYER = RecipientKeyer("test-secret-0123456789abcdef")
NOW_MS = 1_796_083_200_000  # 2026-12-01T00:00:00Z
PHONE = "+14155550142"
LINKS: dict[str, Link] = {}
LINK = Link(
    code="bf7Xk2", destination="https://shop.example/sale", tagged_url="https://shop.example/sale?utm_source=x",
    utm={"source": "attentive", "medium": "sms", "campaign": "black_friday", "content": "hero", "term": ""},
    channel="sms", campaign="black_friday", message="bf_day1", tags=("vip",), recipient_ref=KEYER.ref(PHONE),
    expires_at=None, created_at=datetime(2026, 11, 1, tzinfo=UTC),
)
LINKS[LINK.code] = LINK


def test_an_api_message_with_a_code_takes_its_labels_and_recipient_from_the_link() -> None:
    message = Message.from_api({"message_id": "SM1", "status": "sent", "code": "bf7Xk2"}, KEYER, NOW_MS, LINKS)
    assert (message.channel, message.campaign, message.message, message.tags) == ("sms", "black_friday", "bf_day1",
                                                                                  ("vip",))
    assert message.recipient_ref == KEYER.ref(PHONE) and message.code == "bf7Xk2"
    assert message.utm["source"] == "attentive" and message.ts_ms == NOW_MS and message.source == "api"


def test_fields_given_beat_the_links_defaults_and_are_normalised_like_a_links() -> None:
    message = Message.from_api({
        "message_id": " SM1 ", "status": " Delivered", "code": "bf7Xk2", "channel": " WhatsApp ",
        "campaign": "Winback", "message": "m2", "tags": ["Test Send", "test send"], "recipient": "+1 415 555 0199",
        "provider": "Attentive", "occurred_at": "2026-11-20T10:00:00Z", "error_code": 30003,
    }, KEYER, NOW_MS, LINKS)
    assert (message.message_id, message.status, message.channel, message.campaign, message.message) == (
        "SM1", "delivered", "whatsapp", "winback", "m2")
    assert message.tags == ("test_send",) and message.recipient_ref == KEYER.ref("+14155550199")
    assert (message.provider, message.error_code) == ("attentive", "30003")
    assert message.ts_ms == int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp() * 1000)


def test_without_a_code_the_channel_defaults_to_sms_and_the_rest_is_empty() -> None:
    message = Message.from_api({"message_id": "m-1", "status": "failed"}, KEYER, NOW_MS)
    assert (message.channel, message.campaign, message.tags, message.recipient_ref, message.code) == (
        "sms", "", (), "", "")
    assert set(message.utm.values()) == {""}


@pytest.mark.parametrize(("body", "reason"), [
    ([], "not_an_object"),
    ({"message_id": "m", "status": "sent", "phone": PHONE}, "unknown_field"),
    ({"status": "sent"}, "missing_message_id"),
    ({"message_id": 12, "status": "sent"}, "bad_message_id"),
    ({"message_id": "m\u0000", "status": "sent"}, "bad_message_id"),
    ({"message_id": "m" * 129, "status": "sent"}, "field_too_long"),
    ({"message_id": "m"}, "missing_status"),
    ({"message_id": "m", "status": "queued"}, "bad_status"),
    ({"message_id": "m", "status": "sent", "code": "no/slash"}, "bad_code"),
    ({"message_id": "m", "status": "sent", "code": "nolink"}, "unknown_code"),
    ({"message_id": "m", "status": "sent", "recipient": "call-me-maybe"}, "bad_recipient"),
    ({"message_id": "m", "status": "sent", "tags": "vip"}, "bad_label"),
    ({"message_id": "m", "status": "sent", "channel": 5}, "bad_label"),
    ({"message_id": "m", "status": "sent", "provider": "Twi lio"}, "bad_provider"),
    ({"message_id": "m", "status": "sent", "error_code": "30 003"}, "bad_error_code"),
    ({"message_id": "m", "status": "sent", "occurred_at": "yesterday"}, "bad_occurred_at"),
    ({"message_id": "m", "status": "sent", "occurred_at": NOW_MS}, "bad_occurred_at"),  # ms sent as seconds
])
def test_bad_api_items_are_refused_with_a_reason(body: object, reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        Message.from_api(body, KEYER, NOW_MS)
    assert caught.value.reason == reason
    assert PHONE not in str(caught.value) and "call-me" not in str(caught.value)


def test_a_twilio_callback_maps_its_status_and_keys_the_recipient() -> None:
    delivered = Message.from_twilio(twilio_params("SM" + "a" * 32, "delivered", PHONE), KEYER, NOW_MS)
    assert delivered is not None
    assert (delivered.message_id, delivered.status, delivered.recipient_ref, delivered.channel) == (
        "SM" + "a" * 32, "delivered", KEYER.ref(PHONE), "sms")
    assert (delivered.provider, delivered.source, delivered.ts_ms, delivered.error_code) == (
        "twilio", "twilio", NOW_MS, "")
    failed = Message.from_twilio(twilio_params("SM1", "undelivered", PHONE, error_code="30003"), KEYER, NOW_MS)
    assert failed is not None and (failed.status, failed.error_code) == ("undelivered", "30003")
    whatsapp = Message.from_twilio(twilio_params("SM2", "read", "whatsapp:" + PHONE), KEYER, NOW_MS)
    assert whatsapp is not None and (whatsapp.channel, whatsapp.recipient_ref) == ("whatsapp", KEYER.ref(PHONE))


def test_twilio_statuses_that_say_nothing_of_delivery_are_not_recorded() -> None:
    for status in ("queued", "accepted", "scheduled", "sending", "canceled", "receiving", "received",
                   "partially_delivered", "some_status_twilio_adds_next_year"):
        assert Message.from_twilio(twilio_params("SM1", status, PHONE), KEYER, NOW_MS) is None
    assert set(TWILIO_STATUSES.values()) == set(STATUSES)


def test_a_status_is_the_same_event_per_door_so_a_receipt_never_swallows_the_registration() -> None:
    registered = Message.from_api({"message_id": "SM1", "status": "sent"}, KEYER, NOW_MS)
    again = Message.from_api({"message_id": "SM1", "status": "sent", "campaign": "x"}, KEYER, NOW_MS + 5)
    receipt = Message.from_twilio(twilio_params("SM1", "sent", PHONE), KEYER, NOW_MS)
    assert receipt is not None
    assert registered.identity == again.identity != receipt.identity
    assert Message.from_api({"message_id": "SM1", "status": "delivered"}, KEYER, NOW_MS).identity != registered.identity


def test_a_twilio_recipient_that_is_no_phone_is_kept_without_a_ref() -> None:
    message = Message.from_twilio(twilio_params("SM1", "sent", "12345"), KEYER, NOW_MS)
    assert message is not None and message.recipient_ref == ""


@pytest.mark.parametrize("params", [{"MessageStatus": "sent"}, {"MessageSid": "SM1"}, {"MessageSid": "SM1",
                                                                                       "MessageStatus": ""}])
def test_a_twilio_callback_without_sid_or_status_is_malformed(params: dict[str, str]) -> None:
    with pytest.raises(InvalidMessage):
        Message.from_twilio(params, KEYER, NOW_MS)


def test_a_telnyx_finalized_event_gives_one_message_per_recipient_at_its_time() -> None:
    event = telnyx_event("40385f64-5717-4562-b3fc-2c963f66afa6", "message.finalized",
                         [(PHONE, "delivered"), ("+14155550199", "delivery_failed")], error_code="40300",
                         occurred_at="2026-11-20T12:00:00.250+00:00")
    first, second = Message.from_telnyx(event, KEYER, NOW_MS)
    assert (first.message_id, first.status, first.recipient_ref, first.error_code) == (
        "40385f64-5717-4562-b3fc-2c963f66afa6", "delivered", KEYER.ref(PHONE), "")
    assert (second.status, second.error_code, second.recipient_ref) == ("undelivered", "40300",
                                                                        KEYER.ref("+14155550199"))
    assert first.ts_ms == int(datetime(2026, 11, 20, 12, 0, 0, 250_000, tzinfo=UTC).timestamp() * 1000)
    assert (first.provider, first.source, first.channel) == ("telnyx", "telnyx", "sms")


def test_telnyx_statuses_map_and_queued_or_other_events_record_nothing() -> None:
    mapped = {status: [m.status for m in Message.from_telnyx(telnyx_event("id1", "message.finalized",
                                                                          [(PHONE, status)]), KEYER, NOW_MS)]
              for status in (*TELNYX_STATUSES, "queued", "sending", "webhook_delivered")}
    assert mapped == {"sent": ["sent"], "delivered": ["delivered"], "delivery_failed": ["undelivered"],
                      "sending_failed": ["failed"], "expired": ["undelivered"], "delivery_unconfirmed": ["sent"],
                      "queued": [], "sending": [], "webhook_delivered": []}
    assert Message.from_telnyx(telnyx_event("id1", "message.received", [(PHONE, "webhook_delivered")]),
                               KEYER, NOW_MS) == []


@pytest.mark.parametrize("body", [
    [], {"data": []}, {"data": {"event_type": 5}},
    {"data": {"event_type": "message.sent"}},
    {"data": {"event_type": "message.sent", "payload": {"to": [{"status": "sent"}]}}},
    {"data": {"event_type": "message.sent", "payload": {"id": "x", "to": []}}},
    {"data": {"event_type": "message.sent", "payload": {"id": "x", "to": ["+1"]}}},
    {"data": {"event_type": "message.sent", "occurred_at": "soon", "payload": {"id": "x", "to": [
        {"status": "sent"}]}}},
])
def test_a_telnyx_body_not_shaped_like_a_message_webhook_is_malformed(body: object) -> None:
    with pytest.raises(InvalidMessage):
        Message.from_telnyx(body, KEYER, NOW_MS)


def test_the_event_has_exactly_the_schema_fields_and_reads_back_equal() -> None:
    message = Message.from_api({"message_id": "m", "status": "read", "code": "bf7Xk2"}, KEYER, NOW_MS, LINKS)
    event = orjson.loads(orjson.dumps(message.to_event()))
    assert tuple(event) == message_event.FIELDS
    assert Message.from_event(event) == message


@pytest.mark.parametrize(("field", "value"), [
    ("kind", "click"), ("ts", "1"), ("ts", True), ("status", "queued"), ("source", "sms"),
    ("recipient_ref", PHONE), ("tags", "vip"), ("campaign", 3), ("message_id", ""), ("code", "a/b"),
])
def test_the_loader_refuses_an_event_off_the_schema(field: str, value: object) -> None:
    event = Message.from_api({"message_id": "m", "status": "sent"}, KEYER, NOW_MS).to_event()
    event[field] = value
    with pytest.raises(InvalidMessage):
        Message.from_event(event)
    del event[field]
    with pytest.raises(InvalidMessage):
        Message.from_event(event)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["message_id", "status", "recipient", "code", "channel", "campaign",
                                        "message", "tags", "provider", "occurred_at", "error_code"]),
                       st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["sent", "SM1", PHONE, "bf7Xk2"]),
                                 st.integers(), st.lists(st.text(max_size=5), max_size=3),
                                 st.floats(allow_nan=True), st.booleans())))
def test_any_api_item_is_accepted_or_refused_with_a_reason_never_a_crash(body: dict[str, object]) -> None:
    try:
        message = Message.from_api(body, KEYER, NOW_MS, LINKS)
    except InvalidMessage as exc:
        assert exc.reason
    else:
        assert Message.from_event(orjson.loads(orjson.dumps(message.to_event()))) == message


def test_a_message_on_a_link_carries_the_links_short_domain_and_one_without_a_link_none() -> None:
    branded = replace(LINK, code="vip42", domain="go.brand.example")
    on_link = Message.from_api({"message_id": "SM9", "status": "sent", "code": "vip42"}, KEYER, NOW_MS,
                               {"vip42": branded})
    assert on_link.domain == "go.brand.example"
    assert Message.from_event(orjson.loads(orjson.dumps(on_link.to_event()))).domain == "go.brand.example"
    assert Message.from_api({"message_id": "SM10", "status": "sent"}, KEYER, NOW_MS).domain == ""


def test_a_message_event_an_older_writer_left_without_a_domain_still_loads() -> None:
    event = Message.from_api({"message_id": "SM11", "status": "sent", "code": "bf7Xk2"}, KEYER, NOW_MS,
                             LINKS).to_event()
    del event["domain"]
    assert Message.from_event(event).domain == ""
