"""The durable event stream in Redis: its names, its consumer group and the field events travel in.

Events (clicks and conversions) are JSON objects in the field `e` of entries of N Redis
streams. Each stream name carries a hash tag so that on Redis Cluster the N streams land in
different slots and no node takes every click. The loader reads them with the consumer group
`GROUP`; the group is created at id 0 by whoever starts first, so nothing written before the
loader's first start is skipped. The kind of an event is its `kind` field; each kind has its schema
module beside this one (click.py, conversion.py).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

from redis.crc import REDIS_CLUSTER_HASH_SLOTS as SLOTS
from redis.crc import key_slot
from redis.exceptions import RedisError, ResponseError

from shortlinks.redis_connection import AnyRedis

GROUP = "loader"
FIELD = b"e"

log = logging.getLogger("tracker.event_stream")


def stream_names(count: int) -> list[str]:
    """N stream keys whose hash slots fall in N equal slices of the slot space.

    A cluster that splits its slots evenly (as `redis-cli --cluster create` does) then holds
    the streams on different masters instead of wherever the hash of "0", "1", ... lands.
    """
    names = []
    for shard in range(count):
        tag = next(
            f"{shard}.{n}" for n in itertools.count() if key_slot(f"{shard}.{n}".encode()) * count // SLOTS == shard
        )
        names.append(f"tracker:events:{{{tag}}}")
    return names


async def ensure_groups(redis: AnyRedis, streams: Sequence[str], required: bool = True) -> None:
    """Create the loader's group on every stream at id 0. Apps that can serve without it (edge,
    admin: the loader creates it too) pass `required=False` and only log a failure."""
    for stream in streams:
        try:
            await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                continue
            if required:
                raise
            log.warning("could not create the stream group on %s (%s)", stream, exc)
        except RedisError as exc:
            if required:
                raise
            log.warning("could not create the stream group on %s (%s)", stream, type(exc).__name__)


def stream_tag(key: str) -> str:
    """The hash tag `{…}` of a stream name (or of any key built with one): a key carrying it lives in the
    stream's cluster slot. '' for a key without one."""
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start:end + 1] if start >= 0 and end > start else ""


def link_key_tags(count: int) -> list[str]:
    """The hash tags link keys are given (`LinkStore(key_tags=...)`): one per stream shard, co-located with it."""
    return [stream_tag(name) for name in stream_names(count)]
