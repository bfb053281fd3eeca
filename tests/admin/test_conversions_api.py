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
    assert reply.json() == {"accepted": 1, "duplicates": 0, "conflicts": []}
    [event] = stream_events(sync_redis)
    assert event["kind"] == "conversion" and event["source"] == "api" and event["verified"] is True
    assert (event["order_id"], event["value"], event["currency"]) == ("1001", "49.90", "EUR")
    assert event["recipient_ref"] and "4155550123" not in orjson.dumps(event).decode()


def test_the_same_order_and_type_counts_once_even_within_one_list(admin, sync_redis):
    purchase = {"order_id": "A-7", "type": "purchase", "value": 10, "currency": "USD"}
    refund = {"order_id": "A-7", "type": "refund", "value": 4, "currency": "USD"}
    assert admin.post("/v1/conversions", json=[purchase, purchase, refund]).json() == {
        "accepted": 2, "duplicates": 1, "conflicts": []}
    for _ in range(100):
        assert admin.post("/v1/conversions", json=purchase).json() == {
            "accepted": 0, "duplicates": 1, "conflicts": []}
    assert len(stream_events(sync_redis)) == 2


def test_micro_conversions_need_no_value(admin):
    reply = admin.post("/v1/conversions", json=[{"order_id": "s-1", "type": "signup"},
                                                {"order_id": "c-1", "type": "add_to_cart"}])
    assert reply.json() == {"accepted": 2, "duplicates": 0, "conflicts": []}


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


def test_an_empty_list_is_422_and_a_list_over_1000_is_413_like_a_body_over_its_size(admin):
    assert admin.post("/v1/conversions", json=[]).status_code == 422
    many = [{"order_id": str(i), "type": "lead"} for i in range(1001)]
    reply = admin.post("/v1/conversions", json=many)
    assert reply.status_code == 413
    assert reply.json() == {"error": "body: 1001 items, at most 1000 in one request; send the rest in another"}
    assert admin.post("/v1/conversions", json=many[:1000]).json()["accepted"] == 1000
    assert httpx.post(f"{admin.base_url}/v1/conversions", json={"order_id": "1"}).status_code == 401


# --- conflicts ------------------------------------------------------------------------------------------------


def test_the_same_order_with_another_value_or_currency_is_a_conflict_and_changes_nothing(admin, sync_redis):
    purchase = {"order_id": "A-9", "value": "10.00", "currency": "USD"}
    assert admin.post("/v1/conversions", json=purchase).status_code == 202
    assert admin.post("/v1/conversions", json={**purchase, "value": "10"}).json()["duplicates"] == 1
    for changed in ({**purchase, "value": "12.00"}, {**purchase, "currency": "EUR"}):
        reply = admin.post("/v1/conversions", json=changed)
        assert reply.status_code == 409
        assert "nothing was changed" in reply.json()["error"]
    listed = admin.post("/v1/conversions", json=[
        {"order_id": "A-10", "value": "1", "currency": "USD"}, {**purchase, "value": "99"},
        {"order_id": "A-10", "value": "2", "currency": "USD"},
    ])
    assert listed.status_code == 202
    assert listed.json() == {"accepted": 1, "duplicates": 0, "conflicts": [
        {"index": 1, "order_id": "A-9", "type": "purchase"}, {"index": 2, "order_id": "A-10", "type": "purchase"},
    ]}
    assert [(e["order_id"], e["value"]) for e in stream_events(sync_redis)] == [("A-9", "10.00"), ("A-10", "1")]


def test_subscriptions_and_renewals_travel_with_their_subscription_id(admin, sync_redis):
    reply = admin.post("/v1/conversions", json=[
        {"order_id": "1001", "type": "subscription", "subscription_id": "sub_1", "value": "29", "currency": "EUR"},
        {"order_id": "1042", "type": "renewal", "subscription_id": "sub_1", "value": "29", "currency": "EUR"},
    ])
    assert reply.json() == {"accepted": 2, "duplicates": 0, "conflicts": []}
    assert [(e["type"], e["subscription_id"]) for e in stream_events(sync_redis)] == [
        ("subscription", "sub_1"), ("renewal", "sub_1")]
    missing = admin.post("/v1/conversions", json={"order_id": "1043", "type": "renewal", "value": "29",
                                                  "currency": "EUR"})
    assert missing.status_code == 422 and missing.json()["error"].startswith("subscription_id")


# --- CSV import -----------------------------------------------------------------------------------------------

CSV = {"content-type": "text/csv"}


def test_an_import_keeps_good_lines_and_lists_bad_ones_by_line(admin, sync_redis):
    body = (
        "order_id,type,value,currency,recipient,occurred_at\n"
        "POS-1,purchase,19.90,EUR,+14155550123,2026-11-02T10:00:00Z\n"
        "POS-2,purchase,abc,EUR,,\n"
        "POS-3,,5,EUR,jane@example.com,1793000000\n"
        "POS-4,purchase,5,EUR,not-a-phone,\n"
        "POS-5,lead,,,,\n"
    )
    reply = admin.post("/v1/conversions/import", content=body, headers=CSV)
    assert reply.status_code == 202
    assert reply.json() == {"accepted": 3, "duplicates": 0, "conflicts": [], "errors": [
        {"line": 3, "error": "value: expected a plain decimal number like 19.99"},
        {"line": 5, "error": "recipient: phone numbers need the international format, like +14155550123"},
    ]}
    events = stream_events(sync_redis)
    assert [(e["order_id"], e["source"], e["verified"]) for e in events] == [
        ("POS-1", "import", True), ("POS-3", "import", True), ("POS-5", "import", True)]
    assert events[1]["ts"] == 1_793_000_000_000 and events[0]["recipient_ref"]
    assert "4155550123" not in orjson.dumps(events).decode()


def test_an_import_is_idempotent_and_reports_conflicts_by_line(admin, sync_redis):
    body = "order_id,value,currency\nP-1,10,EUR\nP-2,20,EUR\n"
    assert admin.post("/v1/conversions/import", content=body, headers=CSV).json()["accepted"] == 2
    again = admin.post("/v1/conversions/import", content=body, headers=CSV)
    assert again.json() == {"accepted": 0, "duplicates": 2, "conflicts": [], "errors": []}
    changed = admin.post("/v1/conversions/import?line_offset=100", content="order_id,value,currency\nP-2,25,EUR\n",
                         headers=CSV)
    assert changed.json() == {"accepted": 0, "duplicates": 0, "errors": [],
                              "conflicts": [{"line": 102, "order_id": "P-2", "type": "purchase"}]}
    assert len(stream_events(sync_redis)) == 2


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        ("order_id,valeu\n1,2\n", CSV, 422, "'valeu' is not a field"),
        ("", CSV, 422, "empty"),
        ('{"order_id": "1"}', {"content-type": "application/json"}, 400, "text/csv"),
        ("order_id\n1\n", {}, 400, "text/csv"),
    ],
)
def test_an_import_that_cannot_be_read_is_refused_whole(admin, sync_redis, body, headers, status, fragment):
    reply = admin.post("/v1/conversions/import", content=body, headers=headers)
    assert reply.status_code == status
    assert fragment in reply.json()["error"]
    assert stream_events(sync_redis) == []


def test_an_import_names_a_bad_line_offset_and_needs_auth(admin):
    assert admin.post("/v1/conversions/import?line_offset=-1", content="order_id\n1\n",
                      headers=CSV).status_code == 422
    assert httpx.post(f"{admin.base_url}/v1/conversions/import", content="order_id\n1\n",
                      headers=CSV).status_code == 401


@pytest.mark.parametrize("currency", ["XXX", "XTS"])
def test_a_currency_iso_reserves_for_no_currency_or_testing_is_refused_with_422(admin, sync_redis, currency):
    reply = admin.post("/v1/conversions", json={"order_id": "x-1", "value": "10", "currency": currency})
    assert reply.status_code == 422
    assert reply.json()["error"].startswith(f"currency: {currency} is an ISO 4217 code but not a currency")
    assert stream_events(sync_redis) == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonp", "text/json"])
def test_a_json_body_sent_as_another_content_type_is_refused_with_400_naming_it(admin, sync_redis, content_type):
    body = orjson.dumps({"order_id": "ct-1", "value": "10", "currency": "EUR"})
    headers = {"content-type": content_type} if content_type else {}
    reply = admin.post("/v1/conversions", content=body, headers=headers)
    assert reply.status_code == 400
    expected = repr(content_type) if content_type else "none"
    assert reply.json() == {"error": f"Content-Type: expected application/json, got {expected}"}
    assert stream_events(sync_redis) == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/vnd.api+json"])
def test_json_content_types_with_parameters_are_accepted(admin, content_type):
    body = orjson.dumps({"order_id": f"ok-{content_type}", "value": "10", "currency": "EUR"})
    reply = admin.post("/v1/conversions", content=body, headers={"content-type": content_type})
    assert reply.status_code == 202, reply.text
