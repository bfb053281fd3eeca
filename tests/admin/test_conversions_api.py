"""`POST /v1/conversions` over real HTTP against a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.events.streams import stream_names

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def admin(redis_url: str) -> Iterator[httpx.Client]:
    with serve_in_thread(Admin(make_settings(redis_url)).app) as base, \
            httpx.Client(base_url=base, headers=AUTH) as client:
        yield client


def stream_events(sync_redis) -> list[dict]:
    return [orjson.loads(f[b"e"]) for _, f in sync_redis.xrange(stream_names(1)[0])]


def test_one_conversion_is_accepted_with_202_and_written_to_the_stream(admin, sync_redis):
    reply = admin.post("/v1/conversions", json={"order_id": "1001", "type": "purchase", "value": "49.90",
                                                 "currency": "eur", "click_id": "abc_DEF-123",
                                                 "recipient": "+14155550123"})
    assert reply.status_code == 202
    assert reply.json() == {"accepted": 1, "duplicates": 0}
    [event] = stream_events(sync_redis)
    assert event["kind"] == "conversion" and event["source"] == "api" and event["verified"] is True
    assert (event["order_id"], event["value"], event["currency"]) == ("1001", "49.90", "EUR")
    assert event["recipient_ref"] and "4155550123" not in orjson.dumps(event).decode()


def test_the_same_order_and_type_counts_once_even_within_one_list(admin, sync_redis):
    purchase = {"order_id": "A-7", "type": "purchase", "value": 10, "currency": "USD"}
    refund = {"order_id": "A-7", "type": "refund", "value": 4, "currency": "USD"}
    assert admin.post("/v1/conversions", json=[purchase, purchase, refund]).json() == {"accepted": 2,
                                                                                       "duplicates": 1}
    for _ in range(100):
        assert admin.post("/v1/conversions", json=purchase).json() == {"accepted": 0, "duplicates": 1}
    assert len(stream_events(sync_redis)) == 2


def test_micro_conversions_need_no_value(admin):
    reply = admin.post("/v1/conversions", json=[{"order_id": "s-1", "type": "signup"},
                                                {"order_id": "c-1", "type": "add_to_cart"}])
    assert reply.json() == {"accepted": 2, "duplicates": 0}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"order_id": "1", "type": "purchase", "value": "-1", "currency": "EUR"}, "value"),
        ({"order_id": "1", "type": "purchase", "value": "NaN", "currency": "EUR"}, "value"),
        ({"order_id": "1", "type": "purchase", "value": "10", "currency": "EURO"}, "currency"),
        ({"order_id": "1", "type": "purchase", "value": "10", "currency": "XYZ"}, "currency"),
        ({"order_id": "1", "type": "gift", "value": "10", "currency": "EUR"}, "type"),
        ({"type": "purchase", "value": "10", "currency": "EUR"}, "order_id"),
        ({"order_id": "1", "value": "10", "currency": "EUR", "recipient": "12"}, "recipient"),
        ("purchase", ""),
    ],
)
def test_invalid_conversions_get_422_and_nothing_is_recorded(admin, sync_redis, body, fragment):
    reply = admin.post("/v1/conversions", json=body)
    assert reply.status_code == 422
    assert fragment in reply.json()["error"]
    assert stream_events(sync_redis) == []


def test_one_bad_item_in_a_list_rejects_the_list_and_names_its_index(admin, sync_redis):
    good = {"order_id": "1", "value": "10", "currency": "EUR"}
    reply = admin.post("/v1/conversions", json=[good, {**good, "order_id": "2", "value": "x"}])
    assert reply.status_code == 422 and reply.json()["error"].startswith("body[1]: value")
    assert stream_events(sync_redis) == []


def test_list_limits_and_auth(admin):
    assert admin.post("/v1/conversions", json=[]).status_code == 422
    many = [{"order_id": str(i), "type": "lead"} for i in range(1001)]
    assert admin.post("/v1/conversions", json=many).status_code == 422
    assert httpx.post(f"{admin.base_url}/v1/conversions", json={"order_id": "1"}).status_code == 401
