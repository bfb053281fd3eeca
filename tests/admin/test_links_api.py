"""The admin links API over real HTTP, against a real redis-server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from xml.etree import ElementTree

import httpx
import png
import pytest
import zxingcpp

from shortlinks.codes import CodeGenerator
from tests.support.servers import serve_in_thread, wait_until
from tests.support.settings import API_KEY, SECRET, make_settings
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
        ({"destination": "https://shop.example/", "utm": []}, 422, "utm"),
        ({"destination": "https://shop.example/", "utm": False}, 422, "utm"),
        ({"destination": "https://shop.example:0/"}, 422, "destination"),
        ({"destination": "http://256.256.256.256/"}, 422, "destination"),
        ({"destination": "https://shop.example/", "campaign": "Black Friday", "utm": {"campaign": "cyber_monday"}},
         422, "campaign and utm.campaign"),
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


def test_campaign_and_utm_campaign_are_one_normalised_value(admin):
    def link(**body: object) -> dict:
        reply = admin.post("/v1/links", json={"destination": "https://shop.example/p", **body})
        assert reply.status_code == 201, reply.text
        return reply.json()

    from_label = link(campaign="Black  Friday ")
    assert from_label["campaign"] == from_label["utm"]["campaign"] == "black_friday"
    assert "utm_campaign=black_friday" in from_label["tagged_url"]
    from_utm = link(utm={"campaign": "Black Friday"})
    assert from_utm["campaign"] == from_utm["utm"]["campaign"] == "black_friday"
    both = link(campaign="Black Friday", utm={"campaign": "black_friday"})
    assert both["campaign"] == both["utm"]["campaign"] == "black_friday"


def test_destinations_are_stored_and_tagged_as_the_url_standard_serialises_them(admin):
    reply = admin.post("/v1/links", json={"destination": "https://faß.Brand.example/"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["destination"] == "https://xn--fa-hia.brand.example/"  # UTS #46, not IDNA 2003's fass
    reply = admin.post("/v1/links", json={"destination": "https://EU.Brand.Example/a/./b/../c?q=ü#top",
                                          "utm": {"source": "sms"}})
    assert reply.status_code == 201, reply.text
    assert reply.json()["destination"] == "https://eu.brand.example/a/c?q=%C3%BC#top"
    assert reply.json()["tagged_url"] == "https://eu.brand.example/a/c?q=%C3%BC&utm_source=sms#top"


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
    for path, body in (("/v1/links/batch", {"template": {"destination": "https://shop.example/"}}),
                       ("/v1/messages/compose", {"text": "Sale https://shop.example/"})):
        reply = admin.post(path, json={**body, "recipients": ["+14155550100"] * 10_001})
        assert reply.status_code == 413, path
        assert reply.json()["error"].startswith("recipients: 10001 items, at most 10000 in one request")
    assert admin.get("/v1/links").json()["links"] == []
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


@pytest.fixture
def branded(redis_url: str) -> Iterator[httpx.Client]:
    """An admin with a second, branded short domain."""
    settings = make_settings(redis_url, TRACKER_SHORT_DOMAINS="Go.Brand.example")
    with serve_in_thread(Admin(settings).app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
        yield client


def test_a_link_belongs_to_the_default_domain_unless_it_names_another(branded):
    plain = branded.post("/v1/links", json={"destination": "https://shop.example/"}).json()
    assert plain["domain"] == "go.shop.example"
    reply = branded.post("/v1/links", json={"destination": "https://shop.example/", "domain": "GO.BRAND.EXAMPLE"})
    assert reply.status_code == 201, reply.text
    link = reply.json()
    assert link["domain"] == "go.brand.example"
    assert link["short_url"] == f"https://go.brand.example/{link['code']}"
    assert branded.get(f"/v1/links/{link['code']}").json() == link
    batch = branded.post("/v1/links/batch", json={
        "template": {"destination": "https://shop.example/", "domain": "go.brand.example"},
        "recipients": ["+14155550100"]}).json()["links"][0]
    assert batch["short_url"] == f"https://go.brand.example/{batch['code']}"
    refused = branded.post("/v1/links", json={"destination": "https://shop.example/", "domain": "evil.example"})
    assert refused.status_code == 422 and refused.json()["error"].startswith("domain:")


def test_an_international_short_domain_is_named_in_unicode_or_punycode_as_it_was_configured(redis_url):
    settings = make_settings(redis_url, TRACKER_SHORT_DOMAINS="Faß.example")
    with serve_in_thread(Admin(settings).app) as base, httpx.Client(base_url=base, headers=AUTH) as client:
        links = [client.post("/v1/links", json={"destination": "https://shop.example/", "domain": name})
                 for name in ("faß.example", "FAß.EXAMPLE.", "xn--fa-hia.example")]
        assert [reply.status_code for reply in links] == [201, 201, 201], [reply.text for reply in links]
        assert {reply.json()["domain"] for reply in links} == {"xn--fa-hia.example"}
        code = links[0].json()["code"]
        assert links[0].json()["short_url"] == f"https://xn--fa-hia.example/{code}"
        assert client.get(f"/v1/links/{code}", params={"domain": "faß.example"}).status_code == 200
        listed = client.get("/v1/links", params={"domain": "faß.example"}).json()["links"]
        assert sorted(link["code"] for link in listed) == sorted(reply.json()["code"] for reply in links)
        # UTS #46 non-transitional: "fass.example" is another host, not ours.
        other = client.post("/v1/links", json={"destination": "https://shop.example/", "domain": "fass.example"})
        assert other.status_code == 422 and other.json()["error"].startswith("domain:")


def test_a_vanity_code_is_409_when_taken_on_its_domain_and_free_on_another(branded):
    body = {"destination": "https://shop.example/summer", "code": "Summer-26"}
    first = branded.post("/v1/links", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["short_url"] == "https://go.shop.example/Summer-26"
    taken = branded.post("/v1/links", json=body)
    assert taken.status_code == 409 and "taken" in taken.json()["error"]
    other = branded.post("/v1/links", json={**body, "domain": "go.brand.example"})
    assert other.status_code == 201
    assert branded.get("/v1/links/Summer-26", params={"domain": "go.brand.example"}).json()["domain"] == (
        "go.brand.example")
    assert branded.get("/v1/links/Summer-26").json()["domain"] == "go.shop.example"  # the default domain first


@pytest.mark.parametrize("code", ["ab", "a" * 65, "with space", "dot.ted", "ünï", "healthz", 42])
def test_malformed_or_reserved_vanity_codes_are_422(admin, code):
    reply = admin.post("/v1/links", json={"destination": "https://shop.example/", "code": code})
    assert reply.status_code == 422 and reply.json()["error"].startswith("code:")


def test_a_vanity_code_in_the_generated_range_is_422(admin):
    generated = admin.post("/v1/links", json={"destination": "https://shop.example/"}).json()["code"]
    reply = admin.post("/v1/links", json={"destination": "https://shop.example/", "code": generated})
    assert reply.status_code == 422 and "generated" in reply.json()["error"]
    future = CodeGenerator(SECRET).encode(10**8)
    assert admin.post("/v1/links", json={"destination": "https://shop.example/", "code": future}).status_code == 422


def test_batch_templates_take_no_vanity_code(admin):
    reply = admin.post("/v1/links/batch", json={"template": {"destination": "https://shop.example/", "code": "abc"},
                                                "recipients": ["+14155550100"]})
    assert reply.status_code == 422 and "code" in reply.json()["error"]


def test_listing_filters_by_campaign_message_tag_and_search(admin):
    def make(**fields):
        reply = admin.post("/v1/links", json={"destination": "https://shop.example/", **fields})
        assert reply.status_code == 201, reply.text
        return reply.json()["code"]

    spring = [make(campaign="spring", message="Reminder 1", tags=["vip"]) for _ in range(3)]
    summer = [make(campaign="summer", destination="https://shop.example/summer-shoes") for _ in range(2)]
    vanity = make(code="flash-sale", campaign="summer", tags=["vip"])

    def codes(**params):
        reply = admin.get("/v1/links", params=params)
        assert reply.status_code == 200, reply.text
        assert reply.json()["next_cursor"] is None
        return [link["code"] for link in reply.json()["links"]]

    assert codes() == [vanity, *summer[::-1], *spring[::-1]]  # newest first
    assert codes(campaign="Spring") == spring[::-1]  # normalised as the link's campaign is
    assert codes(message="Reminder 1") == spring[::-1]
    assert codes(tag="VIP") == [vanity, *spring[::-1]]
    assert codes(q="SHOES") == summer[::-1]
    assert codes(q="flash") == [vanity]
    assert codes(campaign="summer", tag="vip") == [vanity]
    assert codes(campaign="nothing") == []
    link = admin.get("/v1/links", params={"q": "flash"}).json()["links"][0]
    assert link == admin.get("/v1/links/flash-sale").json()


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"cursor": "not-a-cursor"}, {"colour": "red"},
               {"domain": "evil.example"}],
)
def test_bad_listing_parameters_are_400(admin, params):
    reply = admin.get("/v1/links", params=params)
    assert reply.status_code == 400 and reply.json()["error"]


def test_listing_pages_with_a_cursor(admin):
    made = [link["code"] for link in admin.post("/v1/links/batch", json={
        "template": {"destination": "https://shop.example/"},
        "recipients": [f"+1415555{i:04d}" for i in range(250)]}).json()["links"]]
    seen, cursor, pages = [], None, 0
    while True:
        page = admin.get("/v1/links", params={"limit": 100, **({"cursor": cursor} if cursor else {})}).json()
        seen += [link["code"] for link in page["links"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == made[::-1]
    assert len(admin.get("/v1/links").json()["links"]) == 100  # the default limit


def test_delete_is_204_then_404_and_the_code_leaves_the_listing(admin):
    code = admin.post("/v1/links", json={"destination": "https://shop.example/", "campaign": "gone"}).json()["code"]
    assert admin.delete(f"/v1/links/{code}").status_code == 204
    assert admin.get(f"/v1/links/{code}").status_code == 404
    assert admin.delete(f"/v1/links/{code}").status_code == 404
    assert admin.get("/v1/links", params={"campaign": "gone"}).json()["links"] == []


def test_a_deleted_vanity_code_can_be_taken_again(admin):
    body = {"destination": "https://shop.example/", "code": "reuse-me"}
    assert admin.post("/v1/links", json=body).status_code == 201
    assert admin.delete("/v1/links/reuse-me").status_code == 204
    assert admin.post("/v1/links", json=body).status_code == 201


def decode_png(png_bytes: bytes) -> list[str]:
    width, height, rows, _ = png.Reader(bytes=png_bytes).asDirect()
    pixels = bytearray()
    for row in rows:
        pixels += bytes(255 if value else 0 for value in row)
    return [code.text for code in zxingcpp.read_barcodes(memoryview(bytes(pixels)).cast("B", (height, width)))]


def test_qr_codes_carry_the_short_url_as_png_and_svg(branded):
    link = branded.post("/v1/links", json={"destination": "https://shop.example/", "domain": "go.brand.example"}).json()
    png_reply = branded.get(f"/v1/links/{link['code']}/qr", params={"format": "png"})
    assert png_reply.status_code == 200 and png_reply.headers["content-type"] == "image/png"
    assert decode_png(png_reply.content) == [link["short_url"]]
    svg_reply = branded.get(f"/v1/links/{link['code']}/qr")
    assert svg_reply.status_code == 200 and svg_reply.headers["content-type"].startswith("image/svg+xml")
    svg = ElementTree.fromstring(svg_reply.content)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and int(svg.get("width")) == int(svg.get("height")) > 100
    assert branded.get(f"/v1/links/{link['code']}/qr", params={"format": "gif"}).status_code == 400
    assert branded.get("/v1/links/nosuchcode/qr").status_code == 404


@pytest.mark.slow
def test_100000_links_page_by_page_with_none_missing_or_repeated_while_others_are_created(admin):
    existing: list[str] = []
    for start in range(0, 100_000, 10_000):
        reply = admin.post("/v1/links/batch", json={
            "template": {"destination": "https://shop.example/", "campaign": "big"},
            "recipients": [f"+1415{n:07d}" for n in range(start, start + 10_000)]})
        assert reply.status_code == 201, reply.text
        existing += [link["code"] for link in reply.json()["links"]]

    created_meanwhile: list[str] = []
    paging_done = threading.Event()

    def create_more() -> None:
        with httpx.Client(base_url=str(admin.base_url), headers=AUTH, timeout=60) as other:
            n = 0
            while not paging_done.is_set() and n < 10_000:
                reply = other.post("/v1/links/batch", json={
                    "template": {"destination": "https://shop.example/new", "campaign": "big"},
                    "recipients": [f"+1416{n + i:07d}" for i in range(500)]})
                assert reply.status_code == 201
                created_meanwhile.extend(link["code"] for link in reply.json()["links"])
                n += 500

    creator = threading.Thread(target=create_more)
    creator.start()
    seen: list[str] = []
    cursor, pages = None, 0
    try:
        while True:
            params = {"limit": 1000, "campaign": "big", **({"cursor": cursor} if cursor else {})}
            page = admin.get("/v1/links", params=params).json()
            seen += [link["code"] for link in page["links"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            if pages == 2:  # make sure creation overlaps the walk, however fast it is
                wait_until(lambda: len(created_meanwhile) >= 1000, timeout=60, message="links created meanwhile")
    finally:
        paging_done.set()
        creator.join()
    assert len(seen) == len(set(seen)), "a link was listed twice"
    assert set(existing) <= set(seen), f"{len(set(existing) - set(seen))} links missing"
    assert set(seen) - set(existing) <= set(created_meanwhile)
    assert len(created_meanwhile) >= 1000
    print(f"\n100,000 links in {pages} pages; {len(created_meanwhile):,} created while paging, "
          f"{len(set(seen) - set(existing)):,} of them listed")


def test_a_link_sent_as_a_form_is_refused_with_400_naming_the_content_type(admin):
    reply = admin.post("/v1/links", content=b'{"destination": "https://shop.example/"}',
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400
    assert reply.json() == {"error": "Content-Type: expected application/json, got 'application/x-www-form-urlencoded'"}
