"""Stream names and the loader's group, against a real redis-server."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from tracker.events.streams import GROUP, ensure_groups, stream_names, stream_tag


def test_groups_are_created_at_the_start_of_the_stream(redis_url, sync_redis):
    stream = stream_names(1)[0]
    sync_redis.xadd(stream, {"e": b"{}"})

    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        await ensure_groups(client, [stream])
        await ensure_groups(client, [stream])  # idempotent
        await client.aclose()

    asyncio.run(scenario())
    group = sync_redis.xinfo_groups(stream)[0]
    assert group["name"].decode() == GROUP
    assert group["last-delivered-id"] == b"0-0"  # the entry written before the group is not skipped


def test_stream_names_fall_in_equal_slices_of_the_slot_space_and_keys_can_share_their_slot():
    names = stream_names(4)
    assert len(set(names)) == 4
    for shard, name in enumerate(names):
        assert key_slot(name.encode()) * 4 // REDIS_CLUSTER_HASH_SLOTS == shard
        assert key_slot(f"tracker:batch:{stream_tag(name)}:x".encode()) == key_slot(name.encode())
