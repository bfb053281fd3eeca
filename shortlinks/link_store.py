"""Links in Redis: one string key per link, a counter for codes, a stream of changes.

Every operation touches one key or pipelines single-key commands, so the same layout works
on Redis Cluster without cross-slot operations. Edges follow `CHANGES` to drop cached
links within a second of a PATCH.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.exceptions import ResponseError

from shortlinks.codes import CodeGenerator
from shortlinks.link import Link, LinkDraft
from shortlinks.redis_connection import AnyRedis

LINK_PREFIX = "sl:link:"
COUNTER = "sl:links:seq"
CHANGES = "sl:links:changes"
CHANGES_KEPT = 100_000
BATCH_PIPELINE = 1000


class CodeCollision(RuntimeError):
    """A generated code already existed: the counter was reset under existing data."""


class LinkStore:
    def __init__(self, redis: AnyRedis, codes: CodeGenerator) -> None:
        self.redis = redis
        self._codes = codes

    async def create(self, draft: LinkDraft, now: datetime) -> Link:
        return (await self.create_many([draft], now))[0]

    async def create_many(self, drafts: Sequence[LinkDraft], now: datetime) -> list[Link]:
        """Store links in input order: one INCRBY reserves every counter, SETs go pipelined."""
        if not drafts:
            return []
        last = await self.redis.incrby(COUNTER, len(drafts))
        first = last - len(drafts) + 1
        links = [Link.from_draft(self._codes.encode(first + i), d, now) for i, d in enumerate(drafts)]
        for start in range(0, len(links), BATCH_PIPELINE):
            async with self.redis.pipeline(transaction=False) as pipe:
                for link in links[start:start + BATCH_PIPELINE]:
                    pipe.set(LINK_PREFIX + link.code, link.to_record(), nx=True)
                results = await pipe.execute()
            if not all(results):
                raise CodeCollision("a generated short code already exists; is the counter key missing?")
        return links

    async def get_record(self, code: str) -> bytes | None:
        record: Any = await self.redis.get(LINK_PREFIX + code)
        return record if record is None else bytes(record)

    async def get(self, code: str) -> Link | None:
        record = await self.get_record(code)
        return None if record is None else Link.from_record(record)

    async def save_change(self, link: Link) -> None:
        """Overwrite a link and announce the change to every edge."""
        await self.redis.set(LINK_PREFIX + link.code, link.to_record(), xx=True)
        await self.redis.xadd(CHANGES, {"code": link.code}, maxlen=CHANGES_KEPT, approximate=True)

    async def last_change_id(self) -> str:
        """Where an edge starts following changes: the newest id, or '0-0' on an empty stream."""
        try:
            info = await self.redis.xinfo_stream(CHANGES)
        except ResponseError:  # no such key yet
            return "0-0"
        last = info["last-generated-id"]
        return last.decode() if isinstance(last, bytes) else str(last)

    async def changes_after(self, last_id: str, block_ms: int) -> tuple[str, list[str]]:
        """Codes changed after `last_id`, waiting up to `block_ms`; returns the new last id and the codes.

        The stream keeps the last 100,000 changes, far more than an edge that polls twice a
        second can fall behind; an edge that lost its connection drops its whole cache instead.
        """
        reply: Any = await self.redis.xread({CHANGES: last_id}, count=1000, block=block_ms)
        if not reply:
            return last_id, []
        entries = reply[0][1]
        return entries[-1][0].decode(), [fields[b"code"].decode() for _, fields in entries]
