"""The demo of `tracker dev --demo`: its storefront over real HTTP (pages from templates, input escaped), and the
texts of its campaigns registered and delivered against a real redis-server."""

from __future__ import annotations

import asyncio

import httpx
import orjson
from redis.asyncio import Redis

from shortlinks.codes import CodeGenerator
from shortlinks.link_store import LinkStore
from tests.support.servers import serve_in_thread
from tests.support.settings import make_settings
from tracker.dev.demo import DEMO_CAMPAIGNS, DemoLink, DemoShop
from tracker.events.recorder import MessageRecorder
from tracker.events.streams import link_key_tags, stream_names


def test_the_storefront_escapes_what_the_url_says_and_the_thank_you_page_queues_the_conversion():
    shop = DemoShop("http://localhost:8080", 8082, "http://127.0.0.1:8081/reports")
    shop.links = [DemoLink("Black <Friday>", "m1", "sms", "+14155550123", "http://localhost:8080/abc123")]
    with serve_in_thread(shop.app) as base:
        index = httpx.get(f"{base}/")
        landing = httpx.get(f"{base}/landing", params={"product": "jacket", "utm_source": "<script>x</script>"})
        thanks = httpx.get(f"{base}/thank-you", params={"product": "socks", "order_id": "D-ABC123"})
        forged = httpx.get(f"{base}/thank-you", params={"order_id": '"]);alert(1)//'})
    assert index.status_code == 200 and "Black &lt;Friday&gt;" in index.text
    assert 'href="http://localhost:8080/abc123"' in index.text
    assert '<script src="http://localhost:8080/t.js"></script>' in index.text  # in <head>, as a shop's theme has it
    assert "&lt;script&gt;x&lt;/script&gt;" in landing.text and "<script>x" not in landing.text
    assert "Packable rain jacket" in landing.text and 'href="/checkout?product=jacket"' in landing.text
    assert '"order_id": "D-ABC123"' in thanks.text and '"value": "24.50"' in thanks.text
    assert "alert(1)" not in forged.text  # an order id that is not one of ours is replaced, never echoed
    assert all(r.headers["cache-control"] == "no-store" for r in (index, landing, thanks))



def test_the_demo_registers_its_texts_and_delivers_all_but_one(redis_url, sync_redis):
    settings = make_settings(redis_url)

    async def scenario() -> int:
        client = Redis.from_url(redis_url)
        shop = DemoShop(settings.short_base, 8082)
        store = LinkStore(client, CodeGenerator(settings.secret), settings.default_domain,
                          key_tags=link_key_tags(settings.event_streams))
        await shop.seed(store, settings)
        new = await shop.send_texts(MessageRecorder(client, stream_names(1)), settings)
        again = await shop.send_texts(MessageRecorder(client, stream_names(1)), settings)
        await client.aclose()
        return new + again

    assert asyncio.run(scenario()) == 2 * len(DEMO_CAMPAIGNS)  # a second start of the same links adds nothing
    events = [orjson.loads(fields[b"e"]) for _, fields in sync_redis.xrange(stream_names(1)[0])]
    statuses = [e["status"] for e in events if e["kind"] == "message"]
    assert statuses.count("sent") == len(DEMO_CAMPAIGNS) and statuses.count("undelivered") == 1
    assert statuses.count("delivered") == len(DEMO_CAMPAIGNS) - 1
    assert {e["campaign"] for e in events} == {c.campaign.lower().replace(" ", "_") for c in DEMO_CAMPAIGNS}
