"""Moves events from the Redis streams into ClickHouse, each exactly once.

One `StreamLoader` per stream owns its batch (Plausible's write buffer is the model): it
fills it from the consumer group up to `batch_size` rows or `batch_interval` seconds, then
enriches, inserts and acknowledges it. Exactly once rests on three rules:

1. A batch is a run of entries of one stream, and its `insert_deduplication_token` is made of
   the stream name and its first and last entry ids, so the same batch inserted twice is
   stored once (the tables keep a non-zero deduplication window).
2. XACK only after every insert of the batch succeeded; an insert that fails is retried with
   the same batch and the same tokens until it succeeds, never dropped.
3. After a crash the same batch is formed again. Before a batch's first insert its bounds (first
   and last entry id, entry count) are written to Redis; at most one batch at a time is between
   that mark and its XACK (the next batch is read while one is inserted, but inserted only after
   it is acknowledged). Entries left pending for this consumer are read back first and those
   within the mark form the marked batch again; those of a consumer that died for good are
   claimed and split by its mark the same way.

Entries that cannot be turned into a row go to `dead_letters` with the reason, acknowledged
with their batch, never silently dropped. The stream is trimmed only below the lowest entry
that any group still has pending or has not yet read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import RedisError, ResponseError

from shortlinks.redis_connection import AnyRedis
from tracker.events import click, conversion
from tracker.events.streams import FIELD, GROUP, ensure_groups, stream_tag
from tracker.loader.collector import collector_paused
from tracker.loader.rows import DEAD_LETTER_COLUMNS, DEAD_LETTERS, KINDS, BadEvent
from tracker.metrics import LOADER_DEAD_LETTERS, LOADER_INSERT_ERRORS, LOADER_ROWS, STREAM_LENGTH, STREAM_PENDING

log = logging.getLogger("tracker.loader")
INSERT_ORDER = (*((kind.table, kind.columns) for kind in KINDS.values()), (DEAD_LETTERS, DEAD_LETTER_COLUMNS))

MAX_PAYLOAD = 8192
# Each insert is a new part in ClickHouse, at a fixed cost (about 0.04 s in chDB, whatever its rows): 20,000
# entries a batch made the loader a fifth faster than 10,000 (loadtest/bench_loader.py). `batch_interval` still
# bounds how long an entry waits, so a quiet stream loads as soon as before.
BATCH_SIZE = 20_000
MARK_TTL = 30 * 86400  # a batch's mark outlives any crash it must survive
MAX_CLAIM = 1_000_000

# insert(table, rows, columns, token): the seam tests use to make ClickHouse fail for real-looking reasons.
InsertFn = Callable[[str, Sequence[Sequence[Any]], Sequence[tuple[str, str]], str], None]


@dataclass
class LoaderStats:
    batches: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # rows inserted, by table
    dead_letters: int = 0
    insert_errors: int = 0
    redis_errors: int = 0
    claimed: int = 0
    trimmed: int = 0
    last_insert_at: float = 0.0
    lag_entries: dict[str, int] = field(default_factory=dict)

    @property
    def clicks(self) -> int:
        return self.rows.get(click.TABLE, 0)

    @property
    def conversions(self) -> int:
        return self.rows.get(conversion.TABLE, 0)


def clickhouse_inserter(client: Any) -> InsertFn:
    """Inserts column by column with names and types given: no DESCRIBE per insert, and clickhouse-connect
    serialises each column in one pass instead of first turning rows into columns itself."""

    def insert(table: str, rows: Sequence[Sequence[Any]], columns: Sequence[tuple[str, str]], token: str) -> None:
        client.insert(
            table,
            list(zip(*rows, strict=True)),
            column_names=[name for name, _ in columns],
            column_type_names=[kind for _, kind in columns],
            column_oriented=True,
            settings={"insert_deduplication_token": token},
        )

    return insert


@dataclass
class Batch:
    """A run of entries of one stream, turned into rows per table (dead letters included)."""

    stream: str
    ids: list[bytes] = field(default_factory=list)
    rows: dict[str, list[Sequence[Any]]] = field(default_factory=dict)
    bounds: str = ""  # set when a batch is formed again from its mark (see `mark`)

    def add(self, entry_id: bytes, fields: dict[bytes, bytes] | None) -> None:
        self.ids.append(entry_id)
        if fields is None:  # deleted while pending: nothing to load, but it must be acknowledged
            return
        raw = fields.get(FIELD, b"")
        try:
            try:
                event = click.decode_entry(fields)
            except orjson.JSONDecodeError:
                raise BadEvent("not JSON") from None
            if not isinstance(event, dict):
                raise BadEvent("not a JSON object")
            name = event.get("kind")
            kind = KINDS.get(name) if isinstance(name, str) else None
            if kind is None:
                raise BadEvent(f"unknown kind {str(name)[:32]!r}")
            self.rows.setdefault(kind.table, []).append(kind.row(event))
        except BadEvent as exc:
            payload = raw[:MAX_PAYLOAD].decode("utf-8", "replace")
            self.rows.setdefault(DEAD_LETTERS, []).append(
                [datetime.now(UTC), self.stream, entry_id.decode(), str(exc), payload]
            )

    def mark(self) -> str:
        """The batch's bounds, "first:last:count", as it was first formed."""
        return self.bounds or f"{self.ids[0].decode()}:{self.ids[-1].decode()}:{len(self.ids)}"

    def id_range(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The first and last entry id of its bounds; an empty range for a batch without bounds."""
        if not self.bounds:
            return (1, 0), (0, 0)
        first, last, _ = self.bounds.split(":")
        return _id_key(first), _id_key(last)

    def token(self, table: str) -> str:
        return f"{self.stream}:{self.mark()}:{table}"


class StreamLoader:
    """Loads one stream. Run several (one per stream) side by side."""

    def __init__(
        self,
        redis: AnyRedis,
        insert: InsertFn,
        stream: str,
        consumer: str,
        stats: LoaderStats,
        batch_size: int = BATCH_SIZE,
        batch_interval: float = 1.0,
        claim_idle_ms: int = 60_000,
    ) -> None:
        self._redis = redis
        self._insert = insert
        self.stream = stream
        self._consumer = consumer
        self.stats = stats
        self._batch_size = batch_size
        self._batch_interval = batch_interval
        self._claim_idle_ms = claim_idle_ms
        self._last_trim = 0.0
        self._last_claim = 0.0
        self._in_flight: asyncio.Task[None] | None = None  # the batch being inserted while the next is read

    async def run(self, stop: asyncio.Event) -> None:
        """Load until `stop` is set, then drain what the stream holds and return.

        A batch is inserted while the next one is read and turned into rows, so ClickHouse and Python work side
        by side; maintenance (claiming, trimming) runs with no batch of ours in flight.
        """
        recover = True
        while not stop.is_set():
            try:
                if recover:
                    # At start, and after an error that may have left read entries in no batch.
                    await self._recover_own_pending()
                    recover = False
                batch = await self._fill(stop)
                await self._landed()
                if batch.ids:
                    self._in_flight = asyncio.create_task(self._flush(batch))
                await self._maintain()
            except (RedisError, OSError) as exc:
                self.stats.redis_errors += 1
                recover = True
                log.warning("redis error on %s (%s); retrying", self.stream, type(exc).__name__)
                await self._landed()  # it retries until done: then nothing of ours is in flight
                await asyncio.sleep(0.5)
        await self._landed()
        await self.drain()

    async def drain(self) -> None:
        """Load everything delivered or not yet read, without waiting for more."""
        await self._recover_own_pending()
        try:
            while True:
                batch = Batch(self.stream)
                await self._read_into(batch, ">", self._batch_size, block_ms=None)
                await self._landed()
                if not batch.ids:
                    break
                self._in_flight = asyncio.create_task(self._flush(batch))
        finally:
            await self._landed()
        await self._trim()

    async def _landed(self) -> None:
        """Wait until the batch in flight, if any, is inserted and acknowledged."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    async def _recover_own_pending(self) -> None:
        # What this consumer read but did not acknowledge before it stopped: the batch named by its mark (which
        # may have been inserted: formed again, it gets the same tokens), then what was read after it.
        streams: Any = {self.stream: "0"}
        entries = _entries(await self._redis.xreadgroup(GROUP, self._consumer, streams))
        for batch in await self._batches_by_mark(self._consumer, entries):
            await self._flush(batch)

    async def _fill(self, stop: asyncio.Event) -> Batch:
        batch = Batch(self.stream)
        deadline = time.monotonic() + self._batch_interval
        while len(batch.ids) < self._batch_size and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            block = max(1, int(min(remaining, 0.2) * 1000))
            await self._read_into(batch, ">", self._batch_size - len(batch.ids), block_ms=block)
        return batch

    async def _read_into(self, batch: Batch, start: str, count: int | None, block_ms: int | None) -> None:
        streams: Any = {self.stream: start}
        with collector_paused():
            reply: Any = await self._redis.xreadgroup(GROUP, self._consumer, streams, count=count, block=block_ms)
            for entry_id, fields in _entries(reply):
                batch.add(entry_id, fields)

    def _mark_key(self, consumer: str) -> str:
        """Where a consumer keeps the bounds of its batch in flight, in the stream's cluster slot."""
        return f"tracker:loader:{stream_tag(self.stream)}:{consumer}"

    async def _batches_by_mark(self, consumer: str, entries: list[tuple[bytes, Any]]) -> list[Batch]:
        """Pending entries of `consumer` as the batches they were: the marked one, then what was read after it.

        Only the marked batch can have been inserted. Its entries still pending are those within its bounds
        (all of them, or fewer if a crash cut its XACK short); formed again under its bounds they get its
        tokens, so ClickHouse drops whatever of it is there already. A mark whose batch was acknowledged
        bounds no pending entry.
        """
        entries = sorted(entries, key=lambda entry: _id_key(entry[0]))
        mark: Any = await self._redis.get(self._mark_key(consumer)) if entries else None
        marked = Batch(self.stream, bounds=mark.decode() if mark else "")
        rest = Batch(self.stream)
        low, high = marked.id_range()
        for entry_id, fields in entries:
            (marked if low <= _id_key(entry_id) <= high else rest).add(entry_id, fields)
        return [batch for batch in (marked, rest) if batch.ids]

    async def _flush(self, batch: Batch) -> None:
        while True:
            try:
                await self._redis.set(self._mark_key(self._consumer), batch.mark(), ex=MARK_TTL)
                break
            except (RedisError, OSError) as exc:
                self.stats.redis_errors += 1
                log.warning("marking a batch of %s failed (%s); retrying", self.stream, type(exc).__name__)
                await asyncio.sleep(0.5)
        backoff = 0.1
        while True:
            try:
                await asyncio.to_thread(self._insert_batch, batch)
                break
            except Exception as exc:  # noqa: BLE001 - any failure: keep the batch, retry the same tokens
                self.stats.insert_errors += 1
                LOADER_INSERT_ERRORS.inc()
                log.warning("insert of %d entries from %s failed (%s); retrying in %.1fs",
                            len(batch.ids), self.stream, type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        while True:
            try:
                for start in range(0, len(batch.ids), 5000):
                    await self._redis.xack(self.stream, GROUP, *batch.ids[start:start + 5000])
                break
            except (RedisError, OSError) as exc:
                # Inserted but not acknowledged: retrying the XACK is safe, and so is a crash here
                # (the batch comes back with the same token and ClickHouse drops it).
                self.stats.redis_errors += 1
                log.warning("xack on %s failed (%s); retrying", self.stream, type(exc).__name__)
                await asyncio.sleep(0.5)
        self.stats.batches += 1
        for table, rows in batch.rows.items():
            if table == DEAD_LETTERS:
                self.stats.dead_letters += len(rows)
                LOADER_DEAD_LETTERS.inc(len(rows))
            else:
                self.stats.rows[table] = self.stats.rows.get(table, 0) + len(rows)
                LOADER_ROWS.labels(table).inc(len(rows))
        self.stats.last_insert_at = time.time()

    def _insert_batch(self, batch: Batch) -> None:
        # Always in the order of KINDS, dead letters last: a retried batch repeats the same inserts.
        for table, columns in INSERT_ORDER:
            if batch.rows.get(table):
                self._insert(table, batch.rows[table], columns, batch.token(table))

    async def _maintain(self) -> None:
        """Claiming and trimming, when due, with no batch of ours in flight (both read the pending entries)."""
        now = time.monotonic()
        claim = now - self._last_claim > self._claim_idle_ms / 2000
        trim = now - self._last_trim > 5.0
        if claim or trim:
            await self._landed()
        if claim:
            self._last_claim = now
            await self._claim_from_dead_consumers()
        if trim:
            self._last_trim = now
            await self._trim()

    async def _claim_from_dead_consumers(self) -> None:
        """Entries pending for too long at another consumer are its unfinished batch: claim it whole."""
        summary: Any = await self._redis.xpending(self.stream, GROUP)
        for consumer in summary.get("consumers") or []:
            name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
            if name == self._consumer:
                continue
            pending: Any = await self._redis.xpending_range(
                self.stream, GROUP, min="-", max="+", count=MAX_CLAIM, consumername=name
            )
            # Only a consumer silent on all its entries is dead; its whole batch is claimed at once.
            if not pending or min(p["time_since_delivered"] for p in pending) < self._claim_idle_ms:
                continue
            ids = [p["message_id"] for p in pending]
            claimed: Any = await self._redis.xclaim(self.stream, GROUP, self._consumer, self._claim_idle_ms, ids)
            batches = await self._batches_by_mark(name, claimed)
            count = sum(len(batch.ids) for batch in batches)
            if count:
                self.stats.claimed += count
                log.info("claimed %d entries of %s left by consumer %s", count, self.stream, name)
            for batch in batches:
                await self._flush(batch)

    async def _trim(self) -> None:
        """Drop entries every group has acknowledged, and nothing else."""
        try:
            groups = await self._redis.xinfo_groups(self.stream)
        except ResponseError:
            return
        floor: tuple[int, int] | None = None
        for group in groups:
            last = _id_key(group["last-delivered-id"])
            candidate = (last[0], last[1] + 1)  # everything up to last-delivered is read
            if group["pending"]:
                summary = await self._redis.xpending(self.stream, group["name"])
                candidate = min(candidate, _id_key(summary["min"]))
            floor = candidate if floor is None else min(floor, candidate)
        if floor is None or floor == (0, 1):
            return
        removed = await self._redis.xtrim(self.stream, minid=f"{floor[0]}-{floor[1]}", approximate=False)
        self.stats.trimmed += int(removed or 0)
        await self.observe()

    async def observe(self) -> None:
        """Stream length for /metrics. Trimming keeps only what a group has not acknowledged, so right
        after a trim the length is the loader's lag: entries not yet read plus read but not yet loaded."""
        length = int(await self._redis.xlen(self.stream))
        STREAM_LENGTH.labels(self.stream).set(length)
        STREAM_PENDING.labels(self.stream).set(length)
        self.stats.lag_entries[self.stream] = length


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
    """The entries of an XREADGROUP reply (one stream)."""
    return [entry for _, entries in reply or [] for entry in entries]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_key(entry_id: bytes | str) -> tuple[int, int]:
    text = _text(entry_id)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Loader:
    """All stream loaders of one process, started and stopped together."""

    def __init__(self, redis: AnyRedis, insert: InsertFn, streams: Sequence[str], consumer: str, **options: Any):
        self.redis = redis
        self.streams = list(streams)
        self.stats = LoaderStats()
        self.loaders = [StreamLoader(redis, insert, s, consumer, self.stats, **options) for s in self.streams]
        self.stop = asyncio.Event()

    async def run(self) -> None:
        await ensure_groups(self.redis, self.streams)
        await asyncio.gather(*(loader.run(self.stop) for loader in self.loaders))

    async def drain(self) -> None:
        """Load everything in the streams now (used by tests and at shutdown)."""
        await ensure_groups(self.redis, self.streams)
        await asyncio.gather(*(loader.drain() for loader in self.loaders))
