"""The conversion recorder against a real redis-server."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tracker.events.recorder import ConversionRecorder
from tracker.events.streams import ensure_groups, stream_names


def test_conversions_are_recorded_once_per_order_and_type(redis_url, sync_redis):
    async def scenario() -> list[list[bool]]:
        client = Redis.from_url(redis_url)
        streams = stream_names(3)
        await ensure_groups(client, streams)
        recorder = ConversionRecorder(client, streams)
        first = await recorder.record([("purchase:1", b"{}"), ("purchase:2", b"{}"), ("purchase:1", b"{}")])
        second = await recorder.record([("purchase:2", b"{}"), ("refund:2", b"{}")])
        await client.aclose()
        return [first, second]

    assert asyncio.run(scenario()) == [[True, True, False], [False, True]]
    assert sum(sync_redis.xlen(s) for s in stream_names(3)) == 3
