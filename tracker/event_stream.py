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
MAX_PIPELINE = 2000

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


async def ensure_groups(redis: AnyRedis, streams: Sequence[str]) -> None:
    for stream in streams:
        try:
            await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


@dataclass
class WriterStats:
    written: int = 0
    round_trips: int = 0
    write_errors: int = 0
    # Acked-mode events whose request was answered before they reached Redis (Redis was down):
    # they are still retried, but were not durable when the 302 left.
    answered_unconfirmed: int = 0
    dropped: int = 0


class EventWriter:
    """Owns the edge's event buffer and moves it into the streams.

    `ack`: `append` returns once the event is in a stream. Requests arriving while a write is
    in flight queue up and go together in the next pipeline (group commit), so N concurrent
    clicks cost one round trip, not N. `fast`: `append` returns at once; the buffer is written
    every `flush_interval` or as soon as it holds `max_batch` events.

    When Redis fails, the events stay in the buffer and are retried with backoff; waiting
    requests are released (the redirect fails open) and counted in `answered_unconfirmed`.
    `close()` flushes what is left; whatever could not be written by its deadline is counted
    in `dropped` and logged.
    """

    def __init__(
        self,
        redis: AnyRedis,
        streams: Sequence[str],
        durability: Literal["ack", "fast"] = "ack",
        flush_interval: float = 0.005,
        max_batch: int = 500,
    ) -> None:
        self._redis = redis
        self._streams = list(streams)
        self._ack = durability == "ack"
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._buffer: list[bytes] = []
        self._waiters: list[asyncio.Future[bool]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._next_stream = 0
        self.stats = WriterStats()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def append(self, event: bytes) -> bool:
        """Queue one event; in `ack` mode wait until it is in Redis. True when it is known durable."""
        self._buffer.append(event)
        if not self._ack:
            if len(self._buffer) >= self._max_batch:
                self._wakeup.set()
            return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
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
            self._release(False)

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
            batch, waiters = self._buffer[:MAX_PIPELINE], self._waiters[:MAX_PIPELINE]
            try:
                await asyncio.wait_for(self._write(batch), WRITE_TIMEOUT)
            except (RedisError, OSError, TimeoutError) as exc:
                self.stats.write_errors += 1
                EVENT_WRITE_ERRORS.inc()
                backoff = min(max(backoff * 2, 0.05), 1.0)
                log.warning("event write failed (%s); %d events kept for retry", type(exc).__name__, len(batch))
                # Fail open: the redirects waiting on this write are answered now; their events stay buffered.
                unconfirmed = sum(1 for w in self._waiters if not w.done())
                self.stats.answered_unconfirmed += unconfirmed
                EVENTS_UNCONFIRMED.inc(unconfirmed)
                self._release(False)
                continue
            backoff = 0.0
            del self._buffer[: len(batch)]
            del self._waiters[: len(waiters)]
            self.stats.written += len(batch)
            EVENTS_WRITTEN.inc(len(batch))
            self.stats.round_trips += 1
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(True)
            if self._buffer:
                self._wakeup.set()

    async def _write(self, batch: list[bytes]) -> None:
        # A whole batch goes to one stream: on a cluster that is one node and one round trip.
        stream = self._streams[self._next_stream]
        self._next_stream = (self._next_stream + 1) % len(self._streams)
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in batch:
                pipe.xadd(stream, {FIELD: event})
            await pipe.execute()

    def _release(self, durable: bool) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(durable)


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
