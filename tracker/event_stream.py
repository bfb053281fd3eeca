"""The durable event stream in Redis, and the edge's writer for it.

Events (clicks and conversions) are JSON objects in the field `e` of entries of N Redis
streams. Each stream name carries a hash tag so that on Redis Cluster the N streams land in
different slots and no node takes every click. The loader reads them with the consumer group
`GROUP`; the group is created at id 0 by whoever starts first, so nothing written before the
loader's first start is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from redis.crc import REDIS_CLUSTER_HASH_SLOTS as SLOTS
from redis.crc import key_slot
from redis.exceptions import RedisError, ResponseError

from shortlinks.redis_connection import AnyRedis
from tracker.metrics import EVENT_WRITE_ERRORS, EVENTS_DROPPED, EVENTS_UNCONFIRMED, EVENTS_WRITTEN

GROUP = "loader"
FIELD = b"e"
WRITE_TIMEOUT = 0.5
MAX_PIPELINE = 2000  # events in one batch at most

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


@dataclass
class WriterStats:
    written: int = 0
    round_trips: int = 0
    write_errors: int = 0
    # Acked-mode events whose request was answered before they reached Redis (Redis was down):
    # they are still retried, but were not durable when the 302 left.
    answered_unconfirmed: int = 0
    dropped: int = 0


# One batch, once: the batch's key is set and its events appended in one script. Redis checks
# maxmemory only before a script's first write, so a batch is either written whole or not at
# all, and a retry of a batch Redis already applied (reply lost, client retry) writes nothing.
_APPEND_BATCH = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  for i = 2, #ARGV do
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[i])
  end
  return 1
end
return 0
"""
BATCH_KEY_TTL = 6 * 3600


class EventWriter:
    """Owns the edge's event buffer and moves it into the streams.

    `ack`: `append` returns once the event is in a stream. Requests arriving while a write is
    in flight queue up and go together in the next batch (group commit), so N concurrent
    clicks cost one round trip, not N. `fast`: `append` returns at once; the buffer is written
    every `flush_interval` or as soon as it holds `max_batch` events.

    A batch keeps its id and its events until Redis confirms it, and the id makes a retry
    idempotent. While Redis fails, the events stay buffered and are retried with backoff, and
    ack-mode requests are answered at once (the redirect fails open) and counted in
    `answered_unconfirmed`. `close()` flushes what is left; whatever could not be written by
    its deadline is counted in `dropped` and logged.
    """

    def __init__(
        self,
        redis: AnyRedis,
        streams: Sequence[str],
        durability: Literal["ack", "fast"] = "ack",
        flush_interval: float = 0.005,
        max_batch: int = 500,
    ) -> None:
        self._streams = list(streams)
        self._script = redis.register_script(_APPEND_BATCH)
        self._ack = durability == "ack"
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._buffer: list[tuple[bytes, asyncio.Future[bool] | None]] = []
        self._inflight: tuple[str, int, int] | None = None  # batch id, stream index, event count
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._failing = False
        self._next_stream = 0
        self.stats = WriterStats()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def append(self, event: bytes) -> bool:
        """Queue one event; in `ack` mode wait until it is in Redis. True when it is known durable."""
        if not self._ack or self._failing:
            self._buffer.append((event, None))
            if self._failing and self._ack:
                self.stats.answered_unconfirmed += 1
                EVENTS_UNCONFIRMED.inc()
            elif len(self._buffer) >= self._max_batch:
                self._wakeup.set()
            return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._buffer.append((event, waiter))
        self._wakeup.set()
        return await waiter

    async def close(self, timeout: float = 10.0) -> None:
        """Flush everything still buffered, retrying until `timeout`, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self._task.cancel()
        if self._buffer:
            self.stats.dropped += len(self._buffer)
            EVENTS_DROPPED.inc(len(self._buffer))
            log.error("event writer closed with %d events not written to Redis", len(self._buffer))
            self._release(len(self._buffer), False)

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            if backoff:
                await asyncio.sleep(backoff)
            elif self._closing:
                if not self._buffer:
                    return
            elif self._ack:
                await self._wakeup.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._flush_interval)
            self._wakeup.clear()
            if not self._buffer:
                continue
            if self._inflight is None:
                self._inflight = (uuid.uuid4().hex, self._next_stream, min(len(self._buffer), MAX_PIPELINE))
                self._next_stream = (self._next_stream + 1) % len(self._streams)
            batch_id, shard, count = self._inflight
            try:
                await asyncio.wait_for(self._write(batch_id, shard, count), WRITE_TIMEOUT)
            except (RedisError, OSError, TimeoutError) as exc:
                self._failing = True
                self.stats.write_errors += 1
                EVENT_WRITE_ERRORS.inc()
                backoff = min(max(backoff * 2, 0.05), 1.0)
                log.warning("event write failed (%s); %d events kept for retry", type(exc).__name__, self.pending)
                # Fail open: the redirects waiting on this write are answered now; their events stay buffered.
                unconfirmed = self._release(len(self._buffer), False)
                self.stats.answered_unconfirmed += unconfirmed
                EVENTS_UNCONFIRMED.inc(unconfirmed)
                continue
            backoff = 0.0
            self._failing = False
            self._inflight = None
            self._release(count, True)
            del self._buffer[:count]
            self.stats.written += count
            EVENTS_WRITTEN.inc(count)
            self.stats.round_trips += 1
            if self._buffer:
                self._wakeup.set()

    async def _write(self, batch_id: str, shard: int, count: int) -> None:
        # A whole batch goes to one stream: on a cluster that is one node and one round trip.
        stream = self._streams[shard]
        tag = stream[stream.index("{"):]
        events = [event for event, _ in self._buffer[:count]]
        await self._script(keys=[stream, f"tracker:batch:{tag}:{batch_id}"], args=[BATCH_KEY_TTL, *events])

    def _release(self, count: int, durable: bool) -> int:
        """Answer the waiting requests among the first `count` events; returns how many were waiting."""
        released = 0
        for _, waiter in self._buffer[:count]:
            if waiter is not None and not waiter.done():
                waiter.set_result(durable)
                released += 1
        return released


# SET NX of the (order_id, type) key and XADD of the event in one atomic step, so a
# conversion is either new and in the stream, or a duplicate and not; never claimed and lost.
_RECORD_CONVERSIONS = """
local accepted = {}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local key = KEYS[2] .. ARGV[i]
  if redis.call('SET', key, '1', 'NX', 'EX', ttl) then
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 1])
    accepted[#accepted + 1] = 1
  else
    accepted[#accepted + 1] = 0
  end
end
return accepted
"""
DEDUP_TTL = 400 * 86400


class ConversionRecorder:
    """Writes conversions to the stream exactly once per (order_id, type).

    The dedup key of an order lives in the same cluster slot as the stream it is written to
    (same hash tag), chosen by hashing the order, so one script call can check and append.
    """

    def __init__(self, redis: AnyRedis, streams: Sequence[str]) -> None:
        self._redis = redis
        self._streams = list(streams)
        self._script = redis.register_script(_RECORD_CONVERSIONS)

    async def record(self, items: Sequence[tuple[str, bytes]]) -> list[bool]:
        """`items` are (dedup identity, event JSON); returns, in order, True for new, False for duplicates."""
        by_stream: dict[int, list[int]] = {}
        for index, (identity, _) in enumerate(items):
            by_stream.setdefault(zlib.crc32(identity.encode()) % len(self._streams), []).append(index)
        accepted = [False] * len(items)
        for shard, indexes in by_stream.items():
            stream = self._streams[shard]
            tag = stream[stream.index("{"):]
            args: list[str | bytes] = [str(DEDUP_TTL)]
            for index in indexes:
                args += [items[index][0], items[index][1]]
            flags = await self._script(keys=[stream, f"tracker:conv:{tag}:"], args=args)
            for index, flag in zip(indexes, flags, strict=True):
                accepted[index] = bool(flag)
        return accepted
