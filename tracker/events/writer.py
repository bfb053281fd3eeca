"""The edge's writer of click events: one buffer, flushed into the streams in batches written exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from redis.exceptions import RedisError

from shortlinks.redis_connection import AnyRedis
from tracker.events.streams import stream_tag
from tracker.metrics import EVENT_WRITE_ERRORS, EVENTS_DROPPED, EVENTS_UNCONFIRMED, EVENTS_WRITTEN

WRITE_TIMEOUT = 0.5
MAX_PIPELINE = 2000  # events in one batch at most

log = logging.getLogger("tracker.event_stream")


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
        events = [event for event, _ in self._buffer[:count]]
        batch_key = f"tracker:batch:{stream_tag(stream)}:{batch_id}"
        await self._script(keys=[stream, batch_key], args=[BATCH_KEY_TTL, *events])

    def _release(self, count: int, durable: bool) -> int:
        """Answer the waiting requests among the first `count` events; returns how many were waiting."""
        released = 0
        for _, waiter in self._buffer[:count]:
            if waiter is not None and not waiter.done():
                waiter.set_result(durable)
                released += 1
        return released
