"""`POST /v1/messages` over real HTTP against a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from shortlinks.recipient import RecipientKeyer
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, SECRET, make_settings
from tracker.admin.app import Admin
from tracker.admin.messages_api import MAX_MESSAGES
from tracker.events.streams import stream_names

AUTH = {"Authorization": f"Bearer {API_KEY}"}
PHONE = "+14155550142"


@pytest.fixture
def admin(redis_url: str) -> Iterator[httpx.Client]:
    with serve_in_thread(Admin(make_settings(redis_url)).app) as base, \
            httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        yield client


def stream_events(sync_redis: Any) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"e"]) for _, f in sync_redis.xrange(stream_names(1)[0])]


def link(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"destination": "https://shop.example/sale", "campaign": "black_friday", "message": "bf_day1",
            "tags": ["vip"], "recipient": PHONE, "utm": {"source": "attentive", "medium": "sms"}, **fields}
    reply = admin.post("/v1/links", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_a_message_with_a_code_is_recorded_with_its_links_labels(admin: httpx.Client, sync_redis: Any) -> None:
    code = link(admin)["code"]
    reply = admin.post("/v1/messages", json={"message_id": "SM1", "status": "sent", "code": code,
                                             "provider": "twilio"})
    assert reply.status_code == 202 and reply.json() == {"accepted": 1, "duplicates": 0}
    [event] = stream_events(sync_redis)
    assert (event["kind"], event["code"], event["channel"], event["campaign"], event["message"], event["tags"]) == (
        "message", code, "sms", "black_friday", "bf_day1", ["vip"])
    assert (event["utm_source"], event["utm_medium"], event["provider"], event["source"]) == (
        "attentive", "sms", "twilio", "api")
    assert event["recipient_ref"] == RecipientKeyer(SECRET).ref(PHONE)
    assert "4155550142" not in orjson.dumps(stream_events(sync_redis)).decode()


def test_the_same_id_and_status_counts_once_and_other_statuses_are_new(admin: httpx.Client, sync_redis) -> None:
    sent = {"message_id": "m-1", "status": "sent", "campaign": "winback"}
    delivered = {"message_id": "m-1", "status": "delivered"}
    assert admin.post("/v1/messages", json=[sent, sent, delivered]).json() == {"accepted": 2, "duplicates": 1}
    assert admin.post("/v1/messages", json=sent).json() == {"accepted": 0, "duplicates": 1}
    assert [e["status"] for e in stream_events(sync_redis)] == ["sent", "delivered"]


def test_a_batch_with_one_bad_item_is_refused_whole_naming_it(admin: httpx.Client, sync_redis: Any) -> None:
    code = link(admin)["code"]
    for items, where in (
        ([{"message_id": "a", "status": "sent"}, {"message_id": "b", "status": "queued"}], "body[1]: status"),
        ([{"message_id": "a", "status": "sent", "code": "nosuchlink"}], "body[0]: code"),
        ([{"message_id": "a", "status": "sent", "code": code}, {"message_id": "b", "status": "sent",
                                                                  "code": "no/slash"}], "body[1]: code"),
        ([{"message_id": "a", "status": "sent", "recipient": "not a phone"}], "body[0]: recipient"),
    ):
        reply = admin.post("/v1/messages", json=items)
        assert reply.status_code == 422 and reply.json()["error"].startswith(where), reply.text
    reply = admin.post("/v1/messages", json={"message_id": "a"})
    assert reply.status_code == 422 and reply.json()["error"] == "status: required"
    assert stream_events(sync_redis) == []


def test_body_limits_and_shapes(admin: httpx.Client, sync_redis: Any) -> None:
    assert admin.post("/v1/messages", json=[]).status_code == 422
    too_many = [{"message_id": f"m{i}", "status": "sent"} for i in range(MAX_MESSAGES + 1)]
    reply = admin.post("/v1/messages", json=too_many)
    assert reply.status_code == 413 and reply.json()["error"].startswith("body: 10001 items, at most 10000")
    assert admin.post("/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
                      ).status_code == 400
    assert admin.post("/v1/messages", json=[1, 2]).status_code == 422
    assert httpx.post(str(admin.base_url) + "/v1/messages", json={"message_id": "m", "status": "sent"}
                      ).status_code == 401
    assert stream_events(sync_redis) == []


def test_ten_thousand_messages_with_their_own_links_go_in_one_request(admin: httpx.Client, sync_redis) -> None:
    template = {"destination": "https://shop.example/x", "campaign": "flash"}
    recipients = [f"+1415555{i:04d}" for i in range(2000)]
    links = admin.post("/v1/links/batch", json={"template": template, "recipients": recipients}).json()["links"]
    items = [{"message_id": f"SM{i:05d}", "status": "sent", "code": links[i % len(links)]["code"]}
             for i in range(MAX_MESSAGES)]
    assert admin.post("/v1/messages", json=items).json() == {"accepted": MAX_MESSAGES, "duplicates": 0}
    events = stream_events(sync_redis)
    assert len(events) == MAX_MESSAGES and {e["campaign"] for e in events} == {"flash"}
    assert events[2001]["recipient_ref"] == links[1]["recipient_ref"]
