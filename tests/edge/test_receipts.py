"""`/hooks/twilio` and `/hooks/telnyx` over real HTTP against a real redis-server, signed as the providers sign.

The public URL Twilio signs is TRACKER_SHORT_BASE + path + query (https://go.shop.example/hooks/twilio),
not the loopback address the test server listens on: that is the proxy situation the edge runs in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shortlinks.recipient import RecipientKeyer
from tests.support.receipts import (
    TELNYX_PUBLIC_KEY,
    TWILIO_TOKEN,
    telnyx_event,
    telnyx_request,
    telnyx_signed,
    twilio_params,
    twilio_request,
)
from tests.support.servers import serve_in_thread
from tests.support.settings import SECRET, make_settings
from tracker.edge.app import Edge
from tracker.events import message as message_event
from tracker.events.streams import stream_names

PUBLIC = "https://go.shop.example/hooks/twilio"
PHONE = "+14155550142"
SID = "SM" + "0123456789abcdef" * 2


def events(sync_redis: Any) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"e"]) for _, f in sync_redis.xrange(stream_names(1)[0])]


@pytest.fixture
def edge(redis_url: str) -> Iterator[httpx.Client]:
    settings = make_settings(redis_url, TRACKER_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
                             TRACKER_TELNYX_PUBLIC_KEY=TELNYX_PUBLIC_KEY)
    with serve_in_thread(Edge(settings)) as base, httpx.Client(base_url=base) as client:
        yield client


def post_twilio(edge: httpx.Client, params: dict[str, str], query: str = "", **kwargs: Any) -> httpx.Response:
    body, headers = twilio_request(PUBLIC + (f"?{query}" if query else ""), params, **kwargs)
    return edge.post("/hooks/twilio" + (f"?{query}" if query else ""), content=body, headers=headers)


def post_telnyx(edge: httpx.Client, event: dict[str, Any], **kwargs: Any) -> httpx.Response:
    body, headers = telnyx_request(event, **kwargs)
    return edge.post("/hooks/telnyx", content=body, headers=headers)


def test_a_hook_whose_secret_is_unset_answers_the_plain_404(redis_url: str, sync_redis: Any) -> None:
    with serve_in_thread(Edge(make_settings(redis_url))) as base, httpx.Client(base_url=base) as client:
        body, headers = twilio_request(PUBLIC, twilio_params(SID, "delivered", PHONE))
        missing = client.get("/no-such-code")
        for path in ("/hooks/twilio", "/hooks/telnyx"):
            reply = client.post(path, content=body, headers=headers)
            assert (reply.status_code, reply.content) == (404, missing.content)
    assert events(sync_redis) == []


def test_a_signed_twilio_receipt_is_recorded_once_however_often_it_comes(edge: httpx.Client, sync_redis: Any) -> None:
    params = twilio_params(SID, "delivered", PHONE)
    first = post_twilio(edge, params)
    assert first.status_code == 200 and first.json() == {"accepted": 1, "duplicates": 0, "ignored": 0}
    again = post_twilio(edge, params)
    assert again.status_code == 200 and again.json() == {"accepted": 0, "duplicates": 1, "ignored": 0}
    [event] = events(sync_redis)
    assert tuple(event) == message_event.FIELDS
    assert (event["message_id"], event["status"], event["provider"], event["source"]) == (
        SID, "delivered", "twilio", "twilio")
    assert event["recipient_ref"] == RecipientKeyer(SECRET).ref(PHONE)
    assert PHONE not in str(sync_redis.xrange(stream_names(1)[0]))


def test_every_parameter_twilio_sends_is_signed_even_ones_we_never_heard_of(edge: httpx.Client, sync_redis) -> None:
    params = twilio_params(SID, "undelivered", PHONE, error_code="30003", NewParameterOf2027="surprise", Blank="")
    assert post_twilio(edge, params).json()["accepted"] == 1
    assert events(sync_redis)[0]["error_code"] == "30003"


def test_the_public_url_with_its_query_is_what_is_signed(edge: httpx.Client, sync_redis: Any) -> None:
    params = twilio_params(SID, "sent", PHONE)
    assert post_twilio(edge, params, query="account=eu&x=%20y").status_code == 200
    body, headers = twilio_request(PUBLIC, params)  # signed without the query it is then sent with
    assert edge.post("/hooks/twilio?account=eu", content=body, headers=headers).status_code == 401
    assert len(events(sync_redis)) == 1


@pytest.mark.parametrize("forge", [
    lambda body, headers: (body, {k: v for k, v in headers.items() if k != "x-twilio-signature"}),
    lambda body, headers: (body, {**headers, "x-twilio-signature": ""}),
    lambda body, headers: (body.replace(b"delivered", b"read"), headers),  # tampered after signing
    lambda body, headers: (body + b"&Extra=1", headers),
    lambda body, headers: (body, {**headers, "x-twilio-signature": headers["x-twilio-signature"][::-1]}),
])
def test_a_twilio_receipt_not_signed_by_our_token_is_401_and_records_nothing(edge, sync_redis, forge) -> None:
    body, headers = forge(*twilio_request(PUBLIC, twilio_params(SID, "delivered", PHONE)))
    reply = edge.post("/hooks/twilio", content=body, headers=headers)
    assert reply.status_code == 401 and reply.headers["x-tracker-error"] in ("missing_signature", "bad_signature")
    assert events(sync_redis) == []


def test_signed_with_another_token_or_for_another_host_is_401(edge: httpx.Client, sync_redis: Any) -> None:
    params = twilio_params(SID, "delivered", PHONE)
    assert post_twilio(edge, params, token="someone-elses-token").status_code == 401
    body, headers = twilio_request("https://evil.example/hooks/twilio", params)
    assert edge.post("/hooks/twilio", content=body, headers=headers).status_code == 401
    assert events(sync_redis) == []


def test_a_callback_on_a_branded_short_domain_is_verified_over_that_domains_public_url(redis_url, sync_redis) -> None:
    settings = make_settings(redis_url, TRACKER_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
                             TRACKER_SHORT_DOMAINS="go.brand.example")
    brand = "https://go.brand.example/hooks/twilio"
    with serve_in_thread(Edge(settings)) as base, httpx.Client(base_url=base) as edge:
        def post(signed_url: str, host: str, sid: str) -> int:
            body, headers = twilio_request(signed_url, twilio_params(sid, "delivered", PHONE))
            return edge.post("/hooks/twilio", content=body, headers={**headers, "Host": host}).status_code

        on_brand = post(brand, "go.brand.example", SID + "1")
        on_brand_with_port = post(brand.replace(".example/", ".example:443/"), "GO.BRAND.EXAMPLE:443", SID + "2")
        short_base_on_brand = post(PUBLIC, "go.brand.example", SID + "3")  # TRACKER_SHORT_BASE's URL always counts
        brand_url_on_the_default_host = post(brand, "go.shop.example", SID + "4")
    assert (on_brand, on_brand_with_port, short_base_on_brand, brand_url_on_the_default_host) == (200, 200, 200, 401)
    assert sorted(event["message_id"] for event in events(sync_redis)) == [SID + "1", SID + "2", SID + "3"]


def test_a_status_that_says_nothing_of_delivery_is_acknowledged_not_recorded(edge, sync_redis) -> None:
    reply = post_twilio(edge, twilio_params(SID, "queued", PHONE))
    assert reply.status_code == 200 and reply.json() == {"accepted": 0, "duplicates": 0, "ignored": 1}
    assert events(sync_redis) == []


@pytest.mark.parametrize(("params", "reason"), [
    ({"AccountSid": "AC1", "MessageStatus": "sent"}, "missing_message_id"),
    ({"MessageSid": SID}, "missing_status"),
    ({"MessageSid": "SM\u0001", "MessageStatus": "sent"}, "bad_message_id"),
])
def test_a_signed_twilio_body_that_is_no_receipt_is_400(edge, sync_redis, params, reason) -> None:
    reply = post_twilio(edge, params)
    assert reply.status_code == 400 and reply.headers["x-tracker-error"] == reason
    assert events(sync_redis) == []


def test_a_body_that_is_no_form_or_too_large_is_refused(edge: httpx.Client, sync_redis: Any) -> None:
    _, headers = twilio_request(PUBLIC, twilio_params(SID, "sent", PHONE))
    assert edge.post("/hooks/twilio", content=b"\xff\xfe=1", headers=headers).status_code == 400
    assert edge.post("/hooks/twilio", content=b"{}", headers={**headers, "content-type": "application/json"}
                     ).status_code == 400
    assert edge.post("/hooks/twilio", content=b"a=" + b"1" * 70_000, headers=headers).status_code == 413
    assert edge.get("/hooks/twilio").status_code == 405
    assert events(sync_redis) == []


def test_a_signed_telnyx_webhook_records_each_recipients_status_once(edge: httpx.Client, sync_redis: Any) -> None:
    event = telnyx_event("40385f64-5717-4562-b3fc-2c963f66afa6", "message.finalized",
                         [(PHONE, "delivered"), ("+14155550199", "delivery_failed")], error_code="40300")
    assert post_telnyx(edge, event).json() == {"accepted": 2, "duplicates": 0, "ignored": 0}
    # Telnyx retries a webhook it got no answer for: a fresh signature over the same body counts once.
    assert post_telnyx(edge, event).json() == {"accepted": 0, "duplicates": 2, "ignored": 0}
    delivered, failed = events(sync_redis)
    assert (delivered["status"], failed["status"], failed["error_code"]) == ("delivered", "undelivered", "40300")
    assert delivered["ts"] == 1_795_176_000_000 and delivered["source"] == "telnyx"


def test_a_telnyx_event_that_is_no_delivery_news_is_acknowledged(edge: httpx.Client, sync_redis: Any) -> None:
    received = telnyx_event("7ee4241c-f127-47e5-9c34-3aac291f8058", "message.received", [(PHONE, "webhook_delivered")])
    assert post_telnyx(edge, received).json() == {"accepted": 0, "duplicates": 0, "ignored": 1}
    queued = telnyx_event("40385f64", "message.sent", [(PHONE, "queued")])
    assert post_telnyx(edge, queued).json()["ignored"] == 1
    assert events(sync_redis) == []


@pytest.mark.parametrize(("change", "reason"), [
    (lambda body, h: (body, {k: v for k, v in h.items() if k != "telnyx-signature-ed25519"}), "missing_signature"),
    (lambda body, h: (body, {k: v for k, v in h.items() if k != "telnyx-timestamp"}), "missing_signature"),
    (lambda body, h: (body.replace(b"delivered", b"delivery_failed"), h), "bad_signature"),
    (lambda body, h: (body, {**h, "telnyx-timestamp": str(int(h["telnyx-timestamp"]) + 1)}), "bad_signature"),
])
def test_a_forged_telnyx_webhook_is_401_and_records_nothing(edge, sync_redis, change, reason) -> None:
    body, headers = change(*telnyx_request(telnyx_event("id-1", "message.finalized", [(PHONE, "delivered")])))
    reply = edge.post("/hooks/telnyx", content=body, headers=headers)
    assert reply.status_code == 401 and reply.headers["x-tracker-error"] == reason
    assert events(sync_redis) == []


def test_a_stale_replayed_or_far_future_telnyx_webhook_is_401(edge: httpx.Client, sync_redis: Any) -> None:
    event = telnyx_event("id-1", "message.finalized", [(PHONE, "delivered")])
    now = int(time.time())
    assert post_telnyx(edge, event, timestamp=now - 3600).headers["x-tracker-error"] == "stale_timestamp"
    assert post_telnyx(edge, event, timestamp=now + 3600).headers["x-tracker-error"] == "future_timestamp"
    assert post_telnyx(edge, event, key=Ed25519PrivateKey.generate()).status_code == 401
    assert events(sync_redis) == []


def test_a_signed_telnyx_body_that_is_no_message_webhook_is_400(edge: httpx.Client, sync_redis: Any) -> None:
    for raw in (b"not json", b"[]", b'{"data": {"event_type": "message.sent", "payload": {"to": []}}}'):
        body, headers = telnyx_signed(raw)
        assert edge.post("/hooks/telnyx", content=body, headers=headers).status_code == 400, raw
    assert events(sync_redis) == []
