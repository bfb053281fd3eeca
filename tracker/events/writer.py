"""The edge's event writer: every tap, cached link or not, costs one Redis round trip shared with its neighbours.

A tap whose link the edge has cached brings a complete click event. A tap whose link it has not
cached (an SMS blast: nearly every tap is a code seen for the first time) brings the link's key and
the request's part of the event. Both queue up while a write is in flight and go together in the
next batch (group commit), as one call of `TAP_SCRIPT` per stream shard: the script reads every
uncached link, checks it is live, and appends each click, with the link record it was resolved
against in the same stream entry (the loader turns it into the click's link fields), atomically. A
cold tap thus costs what a warm one does: a share of one round trip.

Links carry the hash tag of the stream shard they append to (`LinkStore.link_key`), so on Redis
Cluster a shard's keys all live in one slot and the script runs there.

While Redis cannot take a batch, its answered clicks go to the spill log (`tracker.events.spill`), and the
log is replayed into the streams once Redis is back; see that module for the exactly-once rules. A
cold tap of a batch that failed cannot be resolved: the caller may answer from a stale cache entry
(then its click is spilled like a warm one) or with a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from redis.exceptions import RedisError

from shortlinks.redis_connection import AnyRedis
from tracker.events.script_channel import Call, ScriptChannel
from tracker.events.spill import Segment, SpilledBatch, SpillLog
from tracker.events.streams import stream_tag
from tracker.metrics import (
    EVENT_WRITE_ERRORS,
    EVENTS_DROPPED,
    EVENTS_REFUSED,
    EVENTS_REPLAYED,
    EVENTS_SPILLED,
    EVENTS_WRITTEN,
)

log = logging.getLogger("tracker.events.writer")

WRITE_TIMEOUT = 0.5
# The one retry of a batch waits longer. A Redis that is gone (killed, restarting, out of memory) refuses or
# errs at once, so this wait is spent only on one that is slow (a loaded machine: then the longer wait turns what
# would be a spill, or a 503 for a cold tap, into a reply) or silent behind a broken network, and then once per
# outage: while the writer is failing, batches spill without a retry.
RETRY_TIMEOUT = 2.0
PROBE_INTERVAL = 0.25
ORPHAN_SCAN_INTERVAL = 5.0
MAX_BATCH = 2000  # taps in one batch at most
MARK_TTL = 30 * 86400  # a spilled batch replayed later than this after its failed write could be doubled
LINK_FIELD = b"l"

# KEYS: the stream, the writer epoch's high-water mark, then the links to resolve.
# ARGV: the batch's seq, the mark's TTL, now (the links' ISO form, for expires_at), then one pair per tap:
#   the index in KEYS[3..] of its link (0: the event is complete), and the event.
# Returns a string of 0/1 flags: whether the batch was new, then whether each of KEYS[3..] is live; then
# each of their records (false: none).
# A batch at or below the mark was applied before (a replayed spill, a retried write): nothing is
# written then, and the reply is the same. Redis checks maxmemory only before a script's first write,
# the SET of the mark, so a batch is written whole or not at all.
TAP_SCRIPT = """
local fresh = tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[2]) or '0')
if fresh then
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
end
local records, live = {}, {}
for k = 3, #KEYS do
  local record = redis.call('GET', KEYS[k])
  local ok = false
  if record then
    local link = cjson.decode(record)
    ok = link.disabled ~= true and (link.expires_at == cjson.null or link.expires_at > ARGV[3])
  end
  records[#records + 1] = record
  live[#live + 1] = ok and '1' or '0'
end
if fresh then
  for i = 4, #ARGV, 2 do
    local k = tonumber(ARGV[i])
    if k == 0 then
      redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 1])
    elseif live[k] == '1' then
      redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 1], 'l', records[k])
    end
  end
end
return {(fresh and '1' or '0') .. table.concat(live), unpack(records)}
"""


class Unresolved(Exception):
    """A cold tap's batch failed: its link could not be read, its click was not recorded."""


class NotDurable(Exception):
    """An ack-mode click that neither Redis nor the spill log took: no 302 may be sent for it."""


@dataclass
class WriterStats:
    written: int = 0
    round_trips: int = 0
    write_errors: int = 0
    spilled: int = 0
    replayed: int = 0
    refused: int = 0
    dropped: int = 0


class _Tap:
    __slots__ = ("event", "key", "waiter")

    def __init__(self, event: bytes, key: str | None, waiter: asyncio.Future[Any] | None) -> None:
        self.event = event
        self.key = key  # the link to resolve; None when the event is complete
        self.waiter = waiter


def iso_now() -> str:
    """Now in the form link records store `expires_at`, which compares as text."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventWriter:
    """Owns the edge's event buffer and moves it into the streams (or the spill log).

    `ack`: `append` returns once the click is in a stream or fsync'd in the spill log, and raises
    `NotDurable` when neither took it. `fast`: `append` returns at once; the buffer is written every
    `flush_interval` or as soon as it holds `max_batch` events. `resolve` (a cold tap) always waits
    for its batch, which goes at once in either mode.
    """

    def __init__(
        self,
        redis: AnyRedis,
        streams: Sequence[str],
        durability: Literal["ack", "fast"] = "ack",
        spill: SpillLog | None = None,
        flush_interval: float = 0.005,
        max_batch: int = 500,
    ) -> None:
        self._redis = redis
        self._streams = list(streams)
        self._shard_of_tag = {stream_tag(s): i for i, s in enumerate(self._streams)}
        self._channel = ScriptChannel(redis, TAP_SCRIPT)
        self._script = redis.register_script(TAP_SCRIPT)  # the replay's: it runs beside the write loop
        self._ack = durability == "ack"
        self._spill = spill
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._buffer: list[_Tap] = []
        self._wakeup = asyncio.Event()
        self._recovered = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._failing = False
        self._epoch = uuid.uuid4().hex  # live batches' epoch; retired (never used live again) at a failure
        self._spill_epoch = self._epoch
        self._seq = 0
        self._next_warm_shard = 0
        self.stats = WriterStats()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    @property
    def failing(self) -> bool:
        return self._failing

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name="event-writer")]
        if self._spill is not None:
            self._recovered.set()  # what a crashed edge left behind is replayed right away
            self._tasks.append(asyncio.create_task(self._replay_forever(), name="spill-replay"))

    async def append(self, event: bytes) -> None:
        """Queue a complete click event. `ack`: returns when it is durable; raises NotDurable."""
        if not self._ack:
            self._buffer.append(_Tap(event, None, None))
            if len(self._buffer) >= self._max_batch:
                self._wakeup.set()
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer.append(_Tap(event, None, waiter))
        self._wakeup.set()
        await waiter

    async def resolve(self, link_key: str, event: bytes) -> tuple[bytes | None, bool]:
        """A tap on a link not in the cache: (its record or None, whether the click was appended).

        The click is appended only when the link exists and is live; the event is the request's part,
        the link's part comes from the record. Raises Unresolved when the batch failed.
        """
        waiter: asyncio.Future[tuple[bytes | None, bool]] = asyncio.get_running_loop().create_future()
        self._buffer.append(_Tap(event, link_key, waiter))
        self._wakeup.set()
        return await waiter

    async def close(self, timeout: float = 10.0) -> None:
        """Write (or spill) everything still buffered, replay what Redis can take by `timeout`, then stop."""
        self._closing = True
        self._wakeup.set()
        self._recovered.set()
        try:
            await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)
        except TimeoutError:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._buffer:
            self._lose(self._buffer, "closed with events neither written nor spilled")
            self._buffer.clear()
        if self._spill is not None:
            self._spill.close()
        await self._channel.close()

    # The write loop.

    async def _run(self) -> None:
        prober: asyncio.Task[None] | None = None
        with contextlib.suppress(RedisError, OSError, TimeoutError):  # so the first batch need not load it
            await asyncio.wait_for(self._channel.prepare(), WRITE_TIMEOUT * 4)
        try:
            while True:
                if self._closing:
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
                batch = self._buffer[:MAX_BATCH]
                del self._buffer[:MAX_BATCH]
                await self._flush(batch)
                if self._failing and (prober is None or prober.done()):
                    prober = asyncio.create_task(self._probe_until_back(), name="redis-probe")
                if self._buffer:
                    self._wakeup.set()
        finally:
            if prober is not None:
                prober.cancel()

    async def _flush(self, batch: list[_Tap]) -> None:
        cold = any(tap.key is not None for tap in batch)
        if self._failing and not cold:
            await self._spill_taps(batch, self._spill_epoch, self._next_seq())
            return
        seq, epoch = self._next_seq(), self._epoch
        shards: dict[int, list[_Tap]] = {}
        warm_shard = self._next_warm_shard
        self._next_warm_shard = (warm_shard + 1) % len(self._streams)
        for tap in batch:
            shard = warm_shard if tap.key is None else self._shard_of_tag.get(stream_tag(tap.key), 0)
            shards.setdefault(shard, []).append(tap)
        calls = [self._call(shard, epoch, seq, taps) for shard, taps in shards.items()]
        replies = await self._send([call for call, _ in calls])
        if not self._failing and any(isinstance(r, BaseException) for r in replies):
            # One more try of the shards that failed, same epoch and seq: if Redis did apply the first (the reply
            # was lost or late), this one writes nothing and answers the same. A blip costs a retry, not a spill.
            again = [i for i, r in enumerate(replies) if isinstance(r, BaseException)]
            for i, reply in zip(again, await self._send([calls[i][0] for i in again], RETRY_TIMEOUT), strict=True):
                replies[i] = reply
        failed: dict[int, list[_Tap]] = {}
        for (shard, taps), (_, index), reply in zip(shards.items(), calls, replies, strict=True):
            if isinstance(reply, BaseException):
                if not isinstance(reply, RedisError | OSError | TimeoutError):
                    raise reply
                failed[shard] = taps
                self.stats.write_errors += 1
                EVENT_WRITE_ERRORS.inc()
                log.warning("event write failed (%s); spilling %d events", type(reply).__name__, len(taps))
            else:
                self._settle(taps, reply, index)
        if not failed:
            if self._failing:
                self._back()
            return
        # The batch may have been applied (a timeout): its epoch is retired so that no live batch can
        # raise the mark above it, and its spilled part keeps (epoch, seq): replaying it is then a no-op.
        self._failing = True
        self._spill_epoch, self._epoch = epoch, uuid.uuid4().hex
        for taps in failed.values():
            for tap in taps:
                if tap.key is not None and tap.waiter is not None and not tap.waiter.done():
                    tap.waiter.set_exception(Unresolved())
        for shard, taps in failed.items():
            await self._spill_taps([t for t in taps if t.key is None], epoch, seq, shard)

    async def _send(self, calls: list[Call], timeout: float = WRITE_TIMEOUT) -> list[Any]:
        try:
            replies = await asyncio.wait_for(self._channel.call_all(calls), timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            replies = [exc] * len(calls)
        self.stats.round_trips += 1
        return replies

    def _call(self, shard: int, epoch: str, seq: int, taps: list[_Tap]) -> tuple[Call, dict[str, int]]:
        """The script call of one shard's taps, and where each link to resolve is among its keys."""
        stream = self._streams[shard]
        keys = [stream, mark_key(stream, epoch)]
        index: dict[str, int] = {}
        args: list[str | bytes | int] = [seq, MARK_TTL, iso_now()]
        for tap in taps:
            if tap.key is None:
                args += (0, tap.event)
            else:
                k = index.get(tap.key)
                if k is None:
                    k = index[tap.key] = len(index) + 1
                    keys.append(tap.key)
                args += (k, tap.event)
        return (keys, args), index

    def _settle(self, taps: list[_Tap], reply: list[Any], index: dict[str, int]) -> None:
        flags = reply[0]
        written = 0
        for tap in taps:
            if tap.key is None:
                written += 1
                if tap.waiter is not None and not tap.waiter.done():
                    tap.waiter.set_result(None)
                continue
            k = index[tap.key]
            record = reply[k] or None
            appended = flags[k:k + 1] == b"1"
            written += appended
            if tap.waiter is not None and not tap.waiter.done():
                tap.waiter.set_result((record, appended))
        self.stats.written += written
        EVENTS_WRITTEN.inc(written)

    # Outages: spilling, probing, replaying.

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def _spill_taps(self, taps: list[_Tap], epoch: str, seq: int, shard: int | None = None) -> None:
        if not taps:
            return
        if shard is None:
            shard = self._next_warm_shard
            self._next_warm_shard = (shard + 1) % len(self._streams)
        batch = SpilledBatch(epoch, seq, self._streams[shard], tuple(t.event for t in taps))
        if self._spill is None or not await self._spill.append([batch]):
            self._refuse(taps)
            return
        self.stats.spilled += len(taps)
        EVENTS_SPILLED.inc(len(taps))
        for tap in taps:
            if tap.waiter is not None and not tap.waiter.done():
                tap.waiter.set_result(None)

    def _refuse(self, taps: list[_Tap]) -> None:
        self.stats.refused += len(taps)
        EVENTS_REFUSED.inc(len(taps))
        log.error("%d clicks refused: Redis is unreachable and the spill log %s", len(taps),
                  "is full" if self._spill is not None else "is not configured")
        for tap in taps:
            if tap.waiter is not None and not tap.waiter.done():
                tap.waiter.set_exception(NotDurable())

    def _lose(self, taps: list[_Tap], why: str) -> None:
        self.stats.dropped += len(taps)
        EVENTS_DROPPED.inc(len(taps))
        log.error("%d events lost: %s", len(taps), why)
        for tap in taps:
            if tap.waiter is not None and not tap.waiter.done():
                tap.waiter.set_exception(NotDurable() if tap.key is None else Unresolved())

    async def _probe_until_back(self) -> None:
        while self._failing and not self._closing:
            await asyncio.sleep(PROBE_INTERVAL)
            try:
                await asyncio.wait_for(self._redis.ping(), WRITE_TIMEOUT)
            except (RedisError, OSError, TimeoutError):
                continue
            self._back()

    def _back(self) -> None:
        log.info("Redis takes events again; replaying the spill log")
        self._failing = False
        self._recovered.set()
        self._wakeup.set()

    async def _replay_forever(self) -> None:
        assert self._spill is not None
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recovered.wait(), ORPHAN_SCAN_INTERVAL)
            self._recovered.clear()
            if not self._failing:
                await self.replay()
        if not self._failing:
            await self.replay()

    async def replay(self) -> int:
        """Replay every sealed or orphaned spill segment into the streams; returns the events appended."""
        if self._spill is None:
            return 0
        await self._spill.seal()
        segments = await self._spill.claim_replayable()
        replayed = 0
        for position, segment in enumerate(segments):
            try:
                replayed += await self._replay_segment(segment)
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("spill replay interrupted (%s); will resume", type(exc).__name__)
                self._spill.give_back(segments[position:])
                break
            segment.remove()
        return replayed

    async def _replay_segment(self, segment: Segment) -> int:
        replayed = 0
        for batch in await asyncio.to_thread(lambda: list(segment.batches())):
            args: list[str | bytes | int] = [batch.seq, MARK_TTL, iso_now()]
            for event in batch.events:
                args += (0, event)
            keys = [batch.stream, mark_key(batch.stream, batch.epoch)]
            reply = await asyncio.wait_for(self._script(keys=keys, args=args), WRITE_TIMEOUT * 4)
            if reply[0][:1] == b"1":  # else applied before (its write timed out after Redis took it)
                replayed += len(batch.events)
        self.stats.replayed += replayed
        EVENTS_REPLAYED.inc(replayed)
        if replayed:
            log.info("replayed %d spilled events from %s", replayed, segment.path.name)
        return replayed


def mark_key(stream: str, epoch: str) -> str:
    """The high-water mark of one writer epoch on one stream, in the stream's slot."""
    return f"tracker:writer:{stream_tag(stream)}:{epoch}"

