"""The edge's per-process cache of links in front of Redis.

A hit costs no I/O. Entries are refreshed after `ttl` seconds, dropped within a second of a
PATCH (the cache follows the link store's change stream), and kept while Redis is
unreachable so known links keep redirecting (fail open). Misses are remembered briefly so a
burst of probes for unknown codes does not become a burst of Redis calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from redis.exceptions import RedisError

from shortlinks.link import Link
from shortlinks.link_store import LinkStore
from tracker.edge.tally import HotPathTally

T = TypeVar("T")
log = logging.getLogger("tracker.link_cache")


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T | None  # None: the code is known not to exist
    fresh_until: float


class LinkCache(Generic[T]):
    def __init__(
        self,
        store: LinkStore,
        compile_link: Callable[[Link], T],
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
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, code: str) -> T | None:
        """The compiled link, or None when there is no such link."""
        entry = self._entries.get(code)
        if entry is not None and entry.fresh_until > time.monotonic():
            self.tally.cache["hit"] += 1
            return entry.value
        self.tally.cache["miss"] += 1
        try:
            record = await self._store.get_record(code)
        except (RedisError, OSError):
            if entry is None:
                raise
            self.tally.cache["stale"] += 1
            return entry.value
        value = None if record is None else self._compile(Link.from_record(record))
        if len(self._entries) >= self._max_entries:
            self._evict()
        ttl = self._ttl if value is not None else self._negative_ttl
        self._entries[code] = _Entry(value, time.monotonic() + ttl)
        return value

    def invalidate(self, code: str) -> None:
        self._entries.pop(code, None)

    def clear(self) -> None:
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
                last_id, codes = await self._store.changes_after(last_id, block_ms)
                for code in codes:
                    self.invalidate(code)
            except (RedisError, OSError) as exc:
                log.warning("link change feed interrupted (%s); retrying", type(exc).__name__)
                last_id = None
                await asyncio.sleep(0.5)

    def _evict(self) -> None:
        # Dicts keep insertion order: dropping the oldest tenth is a cheap approximation of LRU.
        for code in list(self._entries)[: max(1, self._max_entries // 10)]:
            del self._entries[code]
