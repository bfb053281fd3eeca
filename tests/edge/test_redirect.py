"""The edge over real HTTP against a real redis-server: redirects, 404s, cookies, events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
import redis

from tests.support.servers import serve_in_thread, wait_until
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge
from tracker.events.click import decode_entry
from tracker.events.streams import stream_names
from tracker.metrics import render

AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Stack:
    def __init__(self, admin: httpx.Client, edge: httpx.Client, redis_client: redis.Redis) -> None:
        self.admin, self.edge, self.redis = admin, edge, redis_client

    def link(self, **body: object) -> dict:
        body.setdefault("destination", "https://shop.example/p?x=1#frag")
        reply = self.admin.post("/v1/links", json=body)
        assert reply.status_code == 201, reply.text
        return reply.json()

    def events(self) -> list[dict]:
        return [decode_entry(fields) for _, fields in self.redis.xrange(stream_names(1)[0])]


@pytest.fixture(params=["ack", "fast"])
def stack(request: pytest.FixtureRequest, redis_url: str, sync_redis: redis.Redis) -> Iterator[Stack]:
    settings = make_settings(redis_url, TRACKER_DURABILITY=request.param, TRACKER_ATTRIBUTION_WINDOW_SMS="1d")
    with (
        serve_in_thread(Admin(settings).app) as admin_url,
        serve_in_thread(Edge(settings)) as edge_url,
        httpx.Client(base_url=admin_url, headers=AUTH) as admin,
        httpx.Client(base_url=edge_url, follow_redirects=False, headers={"user-agent": "Mozilla/5.0 (iPhone)"}) as edge,
    ):
        yield Stack(admin, edge, sync_redis)


def test_redirect_is_302_to_tagged_location_with_click_id_cookie_and_no_store(stack):
    link = stack.link(utm={"source": "klaviyo", "medium": "sms", "campaign": "bf"}, recipient="+14155550123")
    reply = stack.edge.get(f"/{link['code']}", headers={"referer": "https://t.co/x", "x-forwarded-for": "9.9.9.9"})
    assert reply.status_code == 302
    location = reply.headers["location"]
    assert location.startswith("https://shop.example/p?x=1&utm_source=klaviyo&utm_medium=sms&utm_campaign=bf&sclid=")
    assert location.endswith("#frag")
    click_id = parse_qs(urlsplit(location).query)["sclid"][0]
    assert len(click_id) <= 26 and click_id.replace("-", "").replace("_", "").isalnum()
    assert reply.headers["set-cookie"] == (f"sclid={click_id}; Max-Age=86400; Path=/; Secure; HttpOnly; SameSite=Lax")
    assert reply.headers["cache-control"] == "no-store"

    events = wait_until(stack.events, message="the click event in the stream")
    assert len(events) == 1
    event = events[0]
    assert event["click_id"] == click_id
    assert event["code"] == link["code"]
    assert (event["channel"], event["campaign"], event["utm_source"]) == ("sms", "bf", "klaviyo")
    assert event["recipient_ref"] == link["recipient_ref"]
    assert event["destination_host"] == "shop.example"
    assert event["method"] == "GET" and event["user_agent"] == "Mozilla/5.0 (iPhone)"
    assert event["referer"] == "https://t.co"  # scheme and host only
    assert event["ip_ref"] and "127.0.0.1" not in orjson.dumps(event).decode()
    assert abs(event["ts"] / 1000 - time.time()) < 60


def test_every_event_carries_the_click_id_of_its_location(stack):
    link = stack.link()
    click_ids = []
    for _ in range(50):
        location = stack.edge.get(f"/{link['code']}").headers["location"]
        click_ids.append(parse_qs(urlsplit(location).query)["sclid"][0])
    assert len(set(click_ids)) == 50
    events = wait_until(lambda: len(stack.events()) == 50 and stack.events(), message="50 events")
    assert sorted(e["click_id"] for e in events) == sorted(click_ids)


def test_head_gets_the_same_redirect_and_is_recorded_as_head(stack):
    link = stack.link()
    reply = stack.edge.head(f"/{link['code']}")
    assert reply.status_code == 302 and "sclid=" in reply.headers["location"]
    events = wait_until(stack.events)
    assert events[0]["method"] == "HEAD"


def test_unknown_malformed_disabled_and_expired_codes_get_the_same_404_page(stack):
    disabled = stack.link()
    stack.admin.patch(f"/v1/links/{disabled['code']}", json={"disabled": True})
    expired = stack.link()
    stack.admin.patch(f"/v1/links/{expired['code']}", json={"expires_at": "2020-01-01T00:00:00Z"})
    pages = []
    for path in (
        "/Zz9Zz9Zz",
        "/bad!code",
        "/x",
        "/" + "a" * 40,
        f"/{disabled['code']}",
        f"/{expired['code']}",
        "/a/b",
        "/%2F%2Fevil.example",
    ):
        reply = stack.edge.get(path)
        assert reply.status_code == 404, path
        assert reply.headers["content-type"].startswith("text/html")
        assert "location" not in reply.headers
        pages.append(reply.content)
    assert len(set(pages)) == 1
    assert stack.events() == []


def test_patch_is_seen_by_the_edge_within_one_second(stack):
    link = stack.link()
    assert stack.edge.get(f"/{link['code']}").status_code == 302  # now cached
    stack.admin.patch(f"/v1/links/{link['code']}", json={"destination": "https://shop.example/new"})
    wait_until(
        lambda: "/new?" in stack.edge.get(f"/{link['code']}").headers.get("location", ""),
        timeout=1.0,
        message="the new destination",
    )
    stack.admin.patch(f"/v1/links/{link['code']}", json={"disabled": True})
    wait_until(lambda: stack.edge.get(f"/{link['code']}").status_code == 404, timeout=1.0, message="a 404")


def test_a_deleted_link_answers_404_within_a_second_and_its_clicks_stay(stack):
    link = stack.link()
    assert stack.edge.get(f"/{link['code']}").status_code == 302  # now cached
    wait_until(stack.events, message="the click event in the stream")
    assert stack.admin.delete(f"/v1/links/{link['code']}").status_code == 204
    wait_until(lambda: stack.edge.get(f"/{link['code']}").status_code == 404, timeout=1.0, message="a 404")
    assert [event["code"] for event in stack.events()] == [link["code"]]


def test_a_vanity_code_redirects_like_a_generated_one(stack):
    link = stack.link(code="spring_sale-26")
    reply = stack.edge.get("/spring_sale-26")
    assert reply.status_code == 302 and reply.headers["location"].startswith("https://shop.example/p?x=1")
    assert wait_until(stack.events)[0]["code"] == link["code"] == "spring_sale-26"


def test_edge_serves_robots_and_health(stack):
    assert stack.edge.get("/healthz").json() == {"status": "ok"}
    assert stack.edge.get("/readyz").status_code == 200
    assert "Disallow: /" in stack.edge.get("/robots.txt").text


def test_cookie_domain_is_added_when_configured(redis_url):
    settings = make_settings(redis_url, TRACKER_COOKIE_DOMAIN=".shop.example")
    with serve_in_thread(Admin(settings).app) as admin_url, serve_in_thread(Edge(settings)) as edge_url:
        code = httpx.post(f"{admin_url}/v1/links", json={"destination": "https://shop.example/"}, headers=AUTH).json()[
            "code"
        ]
        cookie = httpx.get(f"{edge_url}/{code}").headers["set-cookie"]
    assert cookie.endswith("; Max-Age=604800; Path=/; Secure; HttpOnly; SameSite=Lax; Domain=.shop.example")


def test_ack_mode_has_the_event_in_redis_before_the_302_arrives(redis_url, sync_redis):
    settings = make_settings(redis_url, TRACKER_DURABILITY="ack")
    with serve_in_thread(Admin(settings).app) as admin_url, serve_in_thread(Edge(settings)) as edge_url:
        code = httpx.post(f"{admin_url}/v1/links", json={"destination": "https://shop.example/"}, headers=AUTH).json()[
            "code"
        ]
        with httpx.Client() as client:
            for n in range(1, 21):
                location = client.get(f"{edge_url}/{code}").headers["location"]
                entries = sync_redis.xrange(stream_names(1)[0])
                assert len(entries) == n  # read right after the reply: no waiting
                assert decode_entry(entries[-1][1])["click_id"] == location.rsplit("sclid=", 1)[1]


def metric(text: str, name: str) -> float:
    """Sum of every sample of `name` (all label sets) in a Prometheus exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_redirects_by_status_latency_and_cache_hits(stack):
    link = stack.link()
    before = render().decode()  # the edge serves its series on --metrics-port, not here
    for _ in range(5):
        stack.edge.get(f"/{link['code']}")
    stack.edge.get("/Zz9Zz9Zz")

    def flushed() -> str | None:
        # The redirect path counts in plain ints, moved into the series on a one-second tick.
        text = render().decode()
        grown = metric(text, "tracker_redirect_duration_seconds_count") - metric(
            before, "tracker_redirect_duration_seconds_count")
        return text if grown >= 5 else None

    after = wait_until(flushed, timeout=5, interval=0.1, message="the metrics tick")
    assert 'tracker_redirects_total{status="302"}' in after
    assert (
        metric(after, 'tracker_redirects_total{status="302"}') - metric(before, 'tracker_redirects_total{status="302"}')
        == 5
    )
    assert (
        metric(after, 'tracker_redirects_total{status="404"}') - metric(before, 'tracker_redirects_total{status="404"}')
        == 1
    )
    assert (
        metric(after, "tracker_redirect_duration_seconds_count")
        - metric(before, "tracker_redirect_duration_seconds_count")
        == 5
    )
    assert metric(after, 'tracker_link_cache_lookups_total{result="hit"}') > metric(
        before, 'tracker_link_cache_lookups_total{result="hit"}'
    )
    assert "tracker_events_written_total" in after and "tracker_events_dropped_total" in after


def test_a_burst_of_first_taps_on_cold_links_all_get_302(redis_url):
    """An SMS blast: hundreds of recipients tap their own never-cached link at the same moment."""
    settings = make_settings(redis_url)
    with serve_in_thread(Admin(settings).app) as admin_url, serve_in_thread(Edge(settings)) as edge_url:
        links = httpx.post(f"{admin_url}/v1/links/batch", headers=AUTH, timeout=30, json={
            "template": {"destination": "https://shop.example/"},
            "recipients": [f"+1415555{i:04d}" for i in range(400)],
        }).json()["links"]

        async def blast() -> list[int]:
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
            async with httpx.AsyncClient(limits=limits, timeout=30) as client:
                replies = await asyncio.gather(*(client.get(f"{edge_url}/{link['code']}") for link in links))
            return [reply.status_code for reply in replies]

        statuses = asyncio.run(blast())
    assert statuses == [302] * 400


def test_a_code_is_looked_up_on_the_requests_host_and_a_foreign_host_means_the_default_domain(redis_url):
    settings = make_settings(redis_url, TRACKER_SHORT_DOMAINS="go.brand.example")
    with serve_in_thread(Admin(settings).app) as admin_url, serve_in_thread(Edge(settings)) as edge_url:
        with httpx.Client(base_url=admin_url, headers=AUTH) as admin:
            for body in ({"destination": "https://shop.example/default", "code": "same-code"},
                         {"destination": "https://shop.example/brand", "code": "same-code",
                          "domain": "go.brand.example"},
                         {"destination": "https://shop.example/brand-only", "code": "brand-only",
                          "domain": "go.brand.example"}):
                assert admin.post("/v1/links", json=body).status_code == 201, body

        def path_for(code: str, host: str) -> str | int:
            reply = httpx.get(f"{edge_url}/{code}", headers={"host": host})
            return urlsplit(reply.headers["location"]).path if reply.status_code == 302 else reply.status_code

        assert path_for("same-code", "go.shop.example") == "/default"
        assert path_for("same-code", "GO.Brand.Example:443") == "/brand"  # lower-cased, port dropped
        assert path_for("same-code", "go.brand.example.") == "/brand"
        assert path_for("same-code", "127.0.0.1:8080") == "/default"  # none of ours: the default domain
        assert path_for("brand-only", "go.brand.example") == "/brand-only"
        assert path_for("brand-only", "go.shop.example") == 404
