"""The link store against a real redis-server: key layout, vanity codes, the listing index, delete, upgrade."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest
import redis
import redis.asyncio as aredis

from shortlinks.codes import CodeGenerator
from shortlinks.link import LinkDraft, LinkRules
from shortlinks.link_store import (
    CHANGES,
    INDEX,
    CodeRefused,
    CodeTaken,
    InvalidCursor,
    LinkFilter,
    LinkStore,
    link_key,
)

SECRET = "store-test-secret-0123456789"
TAGS = ("{t}",)  # the hash tag of the one event stream shard (tracker.events.streams.link_key_tags)
RULES = LinkRules(domains=("go.shop.example", "go.brand.example"))
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def draft(**fields: object) -> LinkDraft:
    return LinkDraft.from_json({"destination": "https://shop.example/", **fields}, RULES, now=NOW)


def run(coro):  # noqa: ANN001, ANN201 - a tiny runner for one coroutine per test step
    return asyncio.run(coro)


async def with_store(redis_url: str, work):  # noqa: ANN001, ANN201
    client = aredis.Redis.from_url(redis_url)
    try:
        return await work(LinkStore(client, CodeGenerator(SECRET), "go.shop.example", key_tags=TAGS))
    finally:
        await client.aclose()


def test_link_keys_carry_the_domain_and_the_record_names_it(redis_url: str, sync_redis: redis.Redis) -> None:
    async def work(store: LinkStore):
        return await store.create(draft(), NOW), await store.create(draft(domain="go.brand.example"), NOW)

    plain, branded = run(with_store(redis_url, work))
    assert link_key("go.shop.example", plain.code, TAGS) == f"sl:link:{{t}}go.shop.example/{plain.code}"
    assert orjson.loads(sync_redis.get(link_key("go.shop.example", plain.code, TAGS)))["domain"] == "go.shop.example"
    assert orjson.loads(sync_redis.get(link_key("go.brand.example", branded.code, TAGS)))["domain"] == \
        "go.brand.example"
    assert sync_redis.get(link_key("go.shop.example", branded.code, TAGS)) is None


def test_a_vanity_code_is_taken_per_domain(redis_url: str) -> None:
    async def work(store: LinkStore):
        first = await store.create(draft(code="summer-sale"), NOW)
        other_domain = await store.create(draft(code="summer-sale", domain="go.brand.example"), NOW)
        with pytest.raises(CodeTaken, match="summer-sale.*go.shop.example"):
            await store.create(draft(code="summer-sale"), NOW)
        return first, other_domain, await store.find("summer-sale", ("go.brand.example", "go.shop.example"))

    first, other, found = run(with_store(redis_url, work))
    assert (first.domain, other.domain, found.domain) == ("go.shop.example", "go.brand.example", "go.brand.example")


def test_a_vanity_code_our_generator_could_produce_is_refused(redis_url: str) -> None:
    generated = CodeGenerator(SECRET).encode(10**9)  # far ahead of the counter: it could be issued later

    async def work(store: LinkStore):
        with pytest.raises(CodeRefused):
            await store.create(draft(code=generated), NOW)

    run(with_store(redis_url, work))


def test_pages_go_newest_first_and_filters_use_their_own_index(redis_url: str) -> None:
    async def work(store: LinkStore):
        await store.create_many([draft(campaign="spring", tags=["vip"]) for _ in range(5)], NOW)
        await store.create_many([draft(campaign="summer", message="Reminder 1") for _ in range(7)], NOW)
        await store.create(draft(code="sale-now", destination="https://shop.example/sale", tags=["vip"]), NOW)
        everything, cursor = await store.page(LinkFilter(), 1000)
        summer, _ = await store.page(LinkFilter(campaign="summer"), 1000)
        vip, _ = await store.page(LinkFilter(tag="vip"), 1000)
        reminder, _ = await store.page(LinkFilter(message="Reminder 1", campaign="summer"), 1000)
        searched, _ = await store.page(LinkFilter(q="/SALE"), 1000)
        by_code, _ = await store.page(LinkFilter(q="sale-n"), 1000)
        return everything, cursor, summer, vip, reminder, searched, by_code

    everything, cursor, summer, vip, reminder, searched, by_code = run(with_store(redis_url, work))
    assert len(everything) == 13 and cursor is None
    assert everything[0].code == "sale-now"
    assert [link.created_at for link in everything] == sorted((link.created_at for link in everything), reverse=True)
    assert len(summer) == 7 and all(link.campaign == "summer" for link in summer)
    assert len(vip) == 6
    assert len(reminder) == 7
    assert [link.code for link in searched] == ["sale-now"] == [link.code for link in by_code]


def test_a_cursor_walks_every_link_once(redis_url: str) -> None:
    async def work(store: LinkStore):
        made = await store.create_many([draft() for _ in range(250)], NOW)
        seen, cursor, pages = [], "", 0
        while True:
            links, cursor = await store.page(LinkFilter(), 100, cursor)
            seen += [link.code for link in links]
            pages += 1
            if cursor is None:
                return made, seen, pages

    made, seen, pages = run(with_store(redis_url, work))
    assert pages == 3
    assert seen == [link.code for link in reversed(made)]


def test_a_foreign_cursor_is_refused(redis_url: str) -> None:
    async def work(store: LinkStore):
        for cursor in ("nonsense", "djE6", "eHg6MTI"):
            with pytest.raises(InvalidCursor):
                await store.page(LinkFilter(), 10, cursor)

    run(with_store(redis_url, work))


def test_delete_removes_the_link_and_its_index_entries_and_announces_it(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    async def work(store: LinkStore):
        link = await store.create(draft(campaign="gone", tags=["x"]), NOW)
        assert await store.delete(link) is True
        return link, await store.get(link.code), await store.page(LinkFilter(campaign="gone"), 10)

    link, after, (listed, _) = run(with_store(redis_url, work))
    assert after is None and listed == []
    assert sync_redis.zcard(INDEX) == 0
    assert not list(sync_redis.scan_iter("sl:links:by:*"))
    _, fields = sync_redis.xrange(CHANGES)[-1]
    assert fields == {b"code": link.code.encode(), b"domain": b"go.shop.example"}


def test_links_of_the_first_layout_move_to_the_default_domain_once(redis_url: str, sync_redis: redis.Redis) -> None:
    codes = CodeGenerator(SECRET)
    legacy = []
    for n in (1, 2, 3):
        code = codes.encode(n)
        record = {
            "code": code, "destination": "https://shop.example/", "tagged_url": "https://shop.example/",
            "utm": {"source": "", "medium": "", "campaign": "", "content": "", "term": ""}, "channel": "sms",
            "campaign": "old", "message": "", "tags": [], "recipient_ref": "", "expires_at": None,
            "created_at": f"2025-01-0{n}T00:00:00.000Z", "disabled": n == 3, "version": 1,
        }
        sync_redis.set(f"sl:link:{code}", orjson.dumps(record))
        legacy.append(code)
    sync_redis.set("sl:links:seq", 3)

    async def work(store: LinkStore):
        moved = await store.upgrade_layout()
        again = await store.upgrade_layout()
        listed, _ = await store.page(LinkFilter(campaign="old"), 10)
        fresh = await store.create(draft(), NOW)
        return moved, again, listed, fresh, await store.get(legacy[2])

    moved, again, listed, fresh, disabled = run(with_store(redis_url, work))
    assert (moved, again) == (3, 0)
    assert [link.code for link in listed] == legacy[::-1]
    assert all(link.domain == "go.shop.example" for link in listed)
    assert disabled is not None and disabled.disabled
    assert not any(sync_redis.exists(f"sl:link:{code}") for code in legacy)
    assert fresh.code not in legacy


def test_links_move_to_their_stream_shards_hash_tag_from_layout_2_and_when_the_shard_count_changes(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    two, three = ("{a}", "{b}"), ("{a}", "{b}", "{c}")
    codes = CodeGenerator(SECRET)
    old = codes.encode(1)
    sync_redis.set(f"sl:link:go.shop.example/{old}", orjson.dumps({
        "code": old, "domain": "go.shop.example", "destination": "https://shop.example/",
        "tagged_url": "https://shop.example/", "utm": {}, "channel": "sms", "campaign": "", "message": "", "tags": [],
        "recipient_ref": "", "expires_at": None, "created_at": "2026-01-01T00:00:00.000Z", "disabled": False,
    }))
    sync_redis.set("sl:links:layout", "2")
    sync_redis.set("sl:links:seq", 1)

    async def work() -> tuple[int, int, list[str], list[bool]]:
        client = aredis.Redis.from_url(redis_url)
        with_two = LinkStore(client, codes, "go.shop.example", key_tags=two)
        moved = await with_two.upgrade_layout()
        created = [link.code for link in await with_two.create_many([draft() for _ in range(30)], NOW)]
        with_three = LinkStore(client, codes, "go.shop.example", key_tags=three)
        rekeyed = await with_three.upgrade_layout()
        found = [await with_three.get(code) is not None for code in [old, *created]]
        await client.aclose()
        return moved, rekeyed, [old, *created], found

    moved, rekeyed, all_codes, found = run(work())
    keys = {k.decode() for k in sync_redis.scan_iter("sl:link:*")}
    assert moved == 1 and all(found)
    assert keys == {link_key("go.shop.example", code, three) for code in all_codes}
    assert {key[len("sl:link:"):len("sl:link:") + 3] for key in keys} == set(three)  # spread over every shard
    assert rekeyed == sum(link_key("go.shop.example", c, two) != link_key("go.shop.example", c, three)
                          for c in all_codes)
    assert sync_redis.get("sl:links:layout") == b"3:3"
