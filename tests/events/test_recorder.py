"""The conversion recorder against a real redis-server."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tracker.events.recorder import ACCEPTED, CONFLICT, DUPLICATE, MAX_SCRIPT_ITEMS, ConversionRecorder, MessageRecorder
from tracker.events.streams import ensure_groups, stream_names, stream_tag


def test_conversions_are_recorded_once_per_identity_and_another_amount_is_a_conflict(redis_url, sync_redis):
    async def scenario() -> list[list[str]]:
        client = Redis.from_url(redis_url)
        streams = stream_names(3)
        await ensure_groups(client, streams)
        recorder = ConversionRecorder(client, streams)
        first = await recorder.record([("purchase:1", "5.0000 EUR", b"{}"), ("purchase:2", "7.0000 EUR", b"{}"),
                                       ("purchase:1", "5.0000 EUR", b"{}"), ("purchase:1", "6.0000 EUR", b"{}")])
        second = await recorder.record([("purchase:2", "7.0000 USD", b"{}"), ("refund:2", "1.0000 EUR", b"{}"),
                                        ("purchase:2", "7.0000 EUR", b"{}")])
        await client.aclose()
        return [first, second]

    assert asyncio.run(scenario()) == [[ACCEPTED, ACCEPTED, DUPLICATE, CONFLICT], [CONFLICT, ACCEPTED, DUPLICATE]]
    assert sum(sync_redis.xlen(s) for s in stream_names(3)) == 3


def test_a_key_from_before_fingerprints_makes_any_repeat_a_duplicate(redis_url, sync_redis):
    streams = stream_names(1)
    sync_redis.set(f"tracker:conv:{stream_tag(streams[0])}:purchase:old", "1")

    async def scenario() -> list[str]:
        client = Redis.from_url(redis_url)
        await ensure_groups(client, streams)
        outcomes = await ConversionRecorder(client, streams).record([("purchase:old", "9.0000 EUR", b"{}")])
        await client.aclose()
        return list(outcomes)

    assert asyncio.run(scenario()) == [DUPLICATE]


def test_a_delivery_is_seen_once_remembered(redis_url):
    async def scenario() -> tuple[bool, bool, bool]:
        client = Redis.from_url(redis_url)
        recorder = ConversionRecorder(client, stream_names(1))
        before = await recorder.seen("shopify:orders/paid:e-1")
        await recorder.remember("shopify:orders/paid:e-1")
        after, other = await recorder.seen("shopify:orders/paid:e-1"), await recorder.seen("shopify:orders/paid:e-2")
        await client.aclose()
        return before, after, other

    assert asyncio.run(scenario()) == (False, True, False)
def test_messages_are_recorded_once_per_id_and_status_apart_from_conversions(redis_url, sync_redis):
    async def scenario() -> list[list[bool]]:
        client = Redis.from_url(redis_url)
        streams = stream_names(2)
        await ensure_groups(client, streams)
        messages, conversions = MessageRecorder(client, streams), ConversionRecorder(client, streams)
        first = await messages.record_messages([("sent:SM1", b"{}"), ("delivered:SM1", b"{}"), ("sent:SM1", b"{}")])
        # The same identity in another namespace is another event.
        second = [outcome == "accepted" for outcome in await conversions.record([("sent:SM1", "x", b"{}")])]
        await client.aclose()
        return [first, second]

    assert asyncio.run(scenario()) == [[True, True, False], [True]]
    assert sum(sync_redis.xlen(s) for s in stream_names(2)) == 3


def test_a_batch_larger_than_one_script_call_is_recorded_whole_and_once(redis_url, sync_redis):
    async def scenario() -> tuple[list[bool], list[bool]]:
        client = Redis.from_url(redis_url)
        streams = stream_names(1)
        await ensure_groups(client, streams)
        recorder = MessageRecorder(client, streams)
        items = [(f"sent:SM{i}", b"{}") for i in range(2 * MAX_SCRIPT_ITEMS + 5)]
        first = await recorder.record_messages(items)
        again = await recorder.record_messages(items[-10:])
        await client.aclose()
        return first, again

    first, again = asyncio.run(scenario())
    assert all(first) and len(first) == 2 * MAX_SCRIPT_ITEMS + 5 and not any(again)
    assert sync_redis.xlen(stream_names(1)[0]) == 2 * MAX_SCRIPT_ITEMS + 5
