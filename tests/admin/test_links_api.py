"""The admin links API over real HTTP, against a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def admin(redis_url: str) -> Iterator[httpx.Client]:
    app = Admin(make_settings(redis_url, TRACKER_ALLOWED_HOSTS="shop.example,.brand.example")).app
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        yield client


def test_create_link_returns_201_with_the_documented_fields(admin):
    reply = admin.post("/v1/links", json={
        "destination": "https://shop.example/sale?ref=x#top",
        "utm": {"source": " Klaviyo ", "medium": "SMS", "campaign": "Black  Friday"},
        "message": "Reminder 1",
        "tags": ["VIP", "test"],
        "recipient": "+1 415 555 0123",
        "expires_at": "2099-01-01T00:00:00Z",
    })
    assert reply.status_code == 201, reply.text
    link = reply.json()
    assert set(link) >= {"code", "short_url", "destination", "tagged_url", "channel", "campaign", "message", "tags",
                         "recipient_ref", "expires_at", "created_at", "disabled"}
    assert link["short_url"] == f"https://go.shop.example/{link['code']}"
    assert link["tagged_url"] == (
        "https://shop.example/sale?ref=x&utm_source=klaviyo&utm_medium=sms&utm_campaign=black_friday#top"
    )
    assert link["channel"] == "sms"  # from utm.medium
    assert link["campaign"] == "black_friday"  # from utm.campaign
    assert link["tags"] == ["vip", "test"]
    assert link["recipient_ref"] and "4155550123" not in reply.text
    assert link["expires_at"] == "2099-01-01T00:00:00.000Z"
    assert link["disabled"] is False
    assert admin.get(f"/v1/links/{link['code']}").json() == link


def test_channel_defaults_to_sms_without_utm_medium(admin):
    link = admin.post("/v1/links", json={"destination": "https://shop.example/"}).json()
    assert link["channel"] == "sms"
    assert link["tagged_url"] == "https://shop.example/"


def test_missing_or_bad_key_is_401_and_compared_for_every_route(admin):
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": f"Basic {API_KEY}"}):
        reply = httpx.post(f"{admin.base_url}/v1/links", json={"destination": "https://shop.example/"},
                           headers=headers)
        assert reply.status_code == 401
        assert "error" in reply.json()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"destination": "javascript:alert(1)"}, 422, "destination"),
        ({"destination": "//evil.example/"}, 422, "destination"),
        ({"destination": "https://evil.example/"}, 422, "destination"),
        ({"destination": "https://shop.example/\r\nX: y"}, 422, "destination"),
        ({}, 422, "destination"),
        ({"destination": "https://shop.example/", "utm": {"medium": 1}}, 422, "utm"),
        ({"destination": "https://shop.example/", "recipient": "555"}, 422, "recipient"),
        ({"destination": "https://shop.example/", "expires_at": "2001-01-01T00:00:00Z"}, 422, "expires_at"),
        ({"destination": "https://shop.example/", "expires_at": "tomorrow"}, 422, "expires_at"),
        ({"destination": "https://shop.example/", "colour": "red"}, 422, "colour"),
        ({"destination": "https://shop.example/", "tags": "vip"}, 422, "tags"),
        ([1, 2], 422, "body"),
    ],
)
def test_bad_link_input_gets_a_clear_error_naming_the_field(admin, body, status, field):
    reply = admin.post("/v1/links", json=body)
    assert reply.status_code == status
    assert reply.json()["error"].startswith(field)


def test_malformed_json_is_400_and_oversized_body_is_413(admin):
    assert admin.post("/v1/links", content=b"{nope", headers={"content-type": "application/json"}).status_code == 400
    big = {"destination": "https://shop.example/", "message": "x" * 70_000}
    reply = admin.post("/v1/links", json=big)
    assert reply.status_code == 413 and "error" in reply.json()


def test_batch_of_10000_recipients_is_answered_in_input_order(admin):
    recipients = [f"+1415555{i:04d}" for i in range(10_000)]
    reply = admin.post("/v1/links/batch", json={
        "template": {"destination": "https://shop.example/", "utm": {"campaign": "spring"}},
        "recipients": recipients,
    })
    assert reply.status_code == 201, reply.text
    links = reply.json()["links"]
    assert len(links) == 10_000
    assert len({link["code"] for link in links}) == 10_000
    single = admin.post("/v1/links", json={"destination": "https://shop.example/", "recipient": recipients[1234]})
    assert links[1234]["recipient_ref"] == single.json()["recipient_ref"]
    assert links[9999]["short_url"].endswith("/" + links[9999]["code"])
    stored = admin.get(f"/v1/links/{links[42]['code']}").json()
    assert stored["campaign"] == "spring" and stored["recipient_ref"] == links[42]["recipient_ref"]


def test_batch_with_one_bad_recipient_stores_nothing_and_names_the_index(admin, sync_redis):
    reply = admin.post("/v1/links/batch", json={
        "template": {"destination": "https://shop.example/"},
        "recipients": ["+14155550100", "not-a-phone", "a@b.example"],
    })
    assert reply.status_code == 422
    assert reply.json()["error"].startswith("recipients[1]")
    assert list(sync_redis.scan_iter("sl:link:*")) == []


def test_batch_limits(admin):
    assert admin.post("/v1/links/batch", json={"template": {"destination": "https://shop.example/"},
                                               "recipients": []}).status_code == 422
    reply = admin.post("/v1/links/batch", json={"template": {"destination": "https://shop.example/",
                                                             "recipient": "+14155550100"},
                                                "recipients": ["+14155550100"]})
    assert reply.status_code == 422 and "recipient" in reply.json()["error"]


def test_patch_changes_disabled_expiry_and_destination(admin):
    code = admin.post("/v1/links", json={"destination": "https://shop.example/a",
                                         "utm": {"source": "x"}}).json()["code"]
    reply = admin.patch(f"/v1/links/{code}", json={"disabled": True, "destination": "https://eu.brand.example/b"})
    assert reply.status_code == 200
    assert reply.json()["disabled"] is True
    assert reply.json()["tagged_url"] == "https://eu.brand.example/b?utm_source=x"
    assert admin.patch(f"/v1/links/{code}", json={"expires_at": None}).json()["expires_at"] is None
    assert admin.patch(f"/v1/links/{code}", json={"code": "x"}).status_code == 422
    assert admin.patch(f"/v1/links/{code}", json={"disabled": "yes"}).status_code == 422
    assert admin.patch(f"/v1/links/{code}", json={"destination": "https://evil.example/"}).status_code == 422


def test_unknown_code_is_404_json(admin):
    for code in ("zzzzzzzz", "bad-code!", "x" * 100):
        reply = admin.get(f"/v1/links/{code}")
        assert reply.status_code == 404
        assert "error" in reply.json()
    assert admin.patch("/v1/links/zzzzzzzz", json={"disabled": True}).status_code == 404
