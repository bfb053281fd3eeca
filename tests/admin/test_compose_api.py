"""`POST /v1/messages/compose` over real HTTP against a real redis-server."""

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
    settings = make_settings(redis_url, TRACKER_SHORT_DOMAINS="go.brand.example")
    with serve_in_thread(Admin(settings).app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
        yield client


def compose(admin: httpx.Client, **body: object) -> httpx.Response:
    return admin.post("/v1/messages/compose", json=body)


def test_every_url_becomes_a_tracked_link_per_recipient(admin):
    text = "Spring sale! Shoes: https://shop.example/shoes?size=42. Bags: https://shop.example/bags Reply STOP"
    reply = compose(admin, text=text, template={"campaign": "spring", "utm": {"source": "klaviyo"}},
                    recipients=["+14155550100", "+14155550101", "a@b.example"])
    assert reply.status_code == 201, reply.text
    answer = reply.json()
    assert answer["warnings"] == []
    messages = answer["messages"]
    assert len(messages) == 3
    assert len({m["recipient_ref"] for m in messages}) == 3
    for message in messages:
        shoes, bags = message["codes"]
        assert message["text"] == (f"Spring sale! Shoes: https://go.shop.example/{shoes}. "
                                   f"Bags: https://go.shop.example/{bags} Reply STOP")
        assert (message["encoding"], message["characters"], message["segments"]) == (
            "gsm7", len(message["text"]), 1)
        link = admin.get(f"/v1/links/{shoes}").json()
        assert link["destination"] == "https://shop.example/shoes?size=42"
        assert link["campaign"] == "spring" and link["recipient_ref"] == message["recipient_ref"]
        assert "utm_source=klaviyo" in link["tagged_url"]
        assert admin.get(f"/v1/links/{bags}").json()["destination"] == "https://shop.example/bags"
    assert len({code for m in messages for code in m["codes"]}) == 6


def test_a_repeated_url_is_one_link_in_each_message(admin):
    reply = compose(admin, text="https://shop.example/a or https://shop.example/a", recipients=["+14155550100"])
    message = reply.json()["messages"][0]
    assert len(message["codes"]) == 1
    assert message["text"].count(message["codes"][0]) == 2


def test_curly_quotes_force_ucs2_and_are_named_with_their_replacements(admin):
    reply = compose(admin, text="It’s “our” sale — https://shop.example/sale", recipients=["+14155550100"])
    answer = reply.json()
    message = answer["messages"][0]
    assert message["encoding"] == "ucs2"
    assert message["characters"] == len(message["text"])
    assert [(w["character"], w["replacement"], w["count"]) for w in answer["warnings"]] == [
        ("’", "'", 1), ("“", '"', 1), ("”", '"', 1), ("—", "-", 1)]
    assert all(w["codepoint"].startswith("U+") and w["name"] for w in answer["warnings"])


def test_extension_characters_count_twice_and_long_texts_split_into_153(admin):
    text = "Only 5€ [today] https://shop.example/x " + "a" * 120
    message = compose(admin, text=text, recipients=["+14155550100"]).json()["messages"][0]
    assert message["encoding"] == "gsm7"
    assert message["characters"] == len(message["text"]) + 3  # €, [ and ] take two septets each
    assert message["segments"] == 2


def test_links_go_on_the_template_domain(admin):
    message = compose(admin, text="Go https://shop.example/", template={"domain": "go.brand.example"},
                      recipients=["+14155550100"]).json()["messages"][0]
    assert message["text"] == f"Go https://go.brand.example/{message['codes'][0]}"


def test_a_text_without_urls_is_measured_and_makes_no_links(admin):
    reply = compose(admin, text="Hello, no link here", recipients=["+14155550100", "+14155550101"])
    assert reply.status_code == 201
    assert [m["codes"] for m in reply.json()["messages"]] == [[], []]
    assert admin.get("/v1/links").json()["links"] == []


@pytest.mark.parametrize(
    ("body", "starts"),
    [
        ({"recipients": ["+14155550100"]}, "text:"),
        ({"text": "", "recipients": ["+14155550100"]}, "text:"),
        ({"text": "x" * 1601, "recipients": ["+14155550100"]}, "text:"),
        ({"text": "https://shop.example/", "recipients": []}, "recipients:"),
        ({"text": "https://shop.example/", "recipients": ["+14155550100", "nope"]}, "recipients[1]"),
        ({"text": "https://shop.example/", "template": {"destination": "https://x.example/"},
          "recipients": ["+14155550100"]}, "template.destination"),
        ({"text": "https://shop.example/", "template": {"code": "abc"}, "recipients": ["+14155550100"]},
         "template.code"),
        ({"text": "https://shop.example/", "template": {"tags": "x"}, "recipients": ["+14155550100"]},
         "template.tags"),
        ({"text": "https://user:pw@shop.example/", "recipients": ["+14155550100"]}, "text:"),
        ({"text": "hi", "recipients": ["+14155550100"], "extra": 1}, "body:"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(admin, body, starts):
    reply = admin.post("/v1/messages/compose", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"].startswith(starts)
    assert admin.get("/v1/links").json()["links"] == []


def test_10000_recipients_in_one_call(admin):
    recipients = [f"+1415{n:07d}" for n in range(10_000)]
    reply = compose(admin, text="Sale https://shop.example/s", recipients=recipients)
    assert reply.status_code == 201
    messages = reply.json()["messages"]
    assert len(messages) == 10_000 and len({m["codes"][0] for m in messages}) == 10_000
