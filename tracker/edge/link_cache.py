"""The edge's per-process cache of links in front of Redis.

A hit costs no I/O. A miss is not looked up here: the redirect hands the tap to the event
writer, whose tap script reads the link and records the click in the batch's one round trip,
and `put` caches what it read. Entries are refreshed after `ttl` seconds, dropped within a
second of a PATCH (the cache follows the link store's change stream), and kept while Redis is
unreachable so known links keep redirecting (`stale`). Unknown codes are remembered briefly so
a burst of probes for them does not become a burst of Redis work.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from redis.exceptions import RedisError

from shortlinks.link_store import LinkStore
from tracker.edge.tally import HotPathTally

T = TypeVar("T")
log = logging.getLogger("tracker.link_cache")


class _Missing(enum.Enum):
    """The cache has nothing fresh for the key: ask Redis."""

    MISSING = enum.auto()


MISSING: Final = _Missing.MISSING
RECENT_CHANGES = 100_000  # invalidated keys remembered, to refuse caching a read that raced its PATCH


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T | None  # None: the code is known not to exist
    fresh_until: float


class LinkCache(Generic[T]):
    def __init__(
        self,
        store: LinkStore,
        compile_link: Callable[[bytes], T],
        ttl: float = 60.0,
        negative_ttl: float = 1.0,
        max_entries: int = 500_000,
        tally: HotPathTally | None = None,
    ) -> None:
        self.tally = tally or HotPathTally()
        self._store = store
        self._compile = compile_link
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._entries: dict[str, _Entry[T]] = {}
        self._changed: dict[str, int] = {}  # key -> generation of its last invalidation
        self._changed_floor = 0  # reads older than this may have raced a change we no longer remember
        self.generation = 0
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, domain: str, code: str) -> str:
        return self._store.link_key(domain, code)

    def get(self, key: str) -> T | None | Literal[_Missing.MISSING]:
        """The compiled link, None when there is no such link, MISSING when Redis must be asked."""
        entry = self._entries.get(key)
        if entry is not None and entry.fresh_until > time.monotonic():
            self.tally.cache["hit"] += 1
            return entry.value
        self.tally.cache["miss"] += 1
        return MISSING

    def stale(self, key: str) -> T | None | Literal[_Missing.MISSING]:
        """Whatever is cached for the key, fresh or not (Redis cannot be asked)."""
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        self.tally.cache["stale"] += 1
        return entry.value

    def put(self, key: str, record: bytes | None, since: int) -> T | None:
        """Compile and cache a record read from Redis by a request that started at generation `since`.

        A read that may have raced a change of the link (its PATCH was announced after the read was
        sent) is used for its own request but cached only briefly.
        """
        value = None if record is None else self._compile(record)
        if len(self._entries) >= self._max_entries:
            self._evict()
        raced = max(self._changed.get(key, 0), self._changed_floor) > since
        ttl = self._negative_ttl if value is None or raced else self._ttl
        self._entries[key] = _Entry(value, time.monotonic() + ttl)
        return value

    def invalidate(self, key: str) -> None:
        self.generation += 1
        self._entries.pop(key, None)
        if len(self._changed) >= RECENT_CHANGES:
            self._changed.clear()
            self._changed_floor = self.generation
        self._changed[key] = self.generation

    def clear(self) -> None:
        self.generation += 1
        self._changed_floor = self.generation
        self._changed.clear()
        self._entries.clear()

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow_changes(), name="link-cache-changes")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _follow_changes(self, block_ms: int = 200) -> None:
        last_id: str | None = None
        while True:
            try:
                if last_id is None:
                    last_id = await self._store.last_change_id()
                    self.clear()  # changes made while we were not following are unknown
                last_id, changed = await self._store.changes_after(last_id, block_ms)
                for domain, code in changed:
                    self.invalidate(self.key(domain, code))
            except (RedisError, OSError) as exc:
                log.warning("link change feed interrupted (%s); retrying", type(exc).__name__)
                last_id = None
                await asyncio.sleep(0.5)

    def _evict(self) -> None:
        # Dicts keep insertion order: dropping the oldest tenth is a cheap approximation of LRU.
        for key in list(self._entries)[: max(1, self._max_entries // 10)]:
            del self._entries[key]
